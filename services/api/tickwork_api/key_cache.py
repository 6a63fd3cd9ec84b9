"""`KeyCache`: API keys found valid, kept `TICKWORK_API_KEY_CACHE_SECONDS` in this process.

Without it every request to `/api/v1` costs a transaction that looks its key up; with it
a busy key costs one lookup per TTL. What may be stale, and for how long:
- a key revoked, or changed in any way, through this process (REST `DELETE /api-keys/…`,
  the console, anything writing `api_keys` over this process's engine) is refused from
  its next request on: `watch` empties the cache when such a write is made and again
  once its transaction has ended, so a lookup racing the change cannot keep the old row;
- a key revoked elsewhere (another api replica, `tickwork api-key revoke`) works on here
  until its entry is `ttl` old;
- an expiry is honoured to the moment (the entry keeps `expiresAt`);
- refused keys are never cached: a key created elsewhere works at once.
`last_used_at` is refreshed by the lookup (`keys.find_active_key`), so now at most once
per TTL as well as at most once per `keys.LAST_USED_RESOLUTION`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.enums import Role

from tickwork_api.actor import Actor
from tickwork_api.keys import find_active_key, hash_key
from tickwork_api.ttl_cache import TtlCache

KEY_WRITES = ("UPDATE api_keys", "DELETE FROM api_keys")
"""How every statement that can revoke or change a key begins (SQLAlchemy's own SQL)."""
_WROTE_KEYS = "tickwork_wrote_api_keys"
_LOOKING_UP: ContextVar[bool] = ContextVar("tickwork_key_lookup", default=False)
"""Set while `find` looks a key up: the `last_used_at` that lookup refreshes changes
nothing the cache keeps, so it empties nothing."""


@dataclass(frozen=True)
class KnownKey:
    """What a request needs of a valid key."""

    actor: Actor
    expires_at: datetime | None

    def valid_at(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


class KeyCache:
    def __init__(
        self,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._known: TtlCache[str, KnownKey] = TtlCache(ttl)
        self._clock = clock
        self._wall_clock = wall_clock

    async def find(self, sessions: SessionFactory, key: str) -> KnownKey | None:
        """The unrevoked, unexpired key `key`, from the cache or else the database."""
        digest = hash_key(key)
        known = self._known.get(digest, self._clock())
        if known is not None and known.valid_at(self._wall_clock()):
            return known
        generation = self._known.generation
        looking_up = _LOOKING_UP.set(True)
        try:
            record = await find_active_key(sessions, key)
        finally:
            _LOOKING_UP.reset(looking_up)
        if record is None:
            self._known.forget(digest)
            return None
        known = KnownKey(Actor(key_id=record.id, role=Role(record.role)), record.expires_at)
        self._known.put(digest, known, self._clock(), generation=generation)
        return known

    def clear(self) -> None:
        self._known.clear()

    def watch(self, engine: AsyncEngine) -> Callable[[], None]:
        """Empty the cache whenever a statement over `engine` writes `api_keys`, and again
        when that statement's connection goes back to the pool (its transaction over);
        returns the function that stops watching."""

        def written(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.startswith(KEY_WRITES) and not _LOOKING_UP.get():
                conn.info[_WROTE_KEYS] = True
                self.clear()

        def released(_dbapi_connection: Any, record: Any) -> None:
            if record is not None and record.info.pop(_WROTE_KEYS, False):
                self.clear()

        sync = engine.sync_engine
        event.listen(sync, "after_cursor_execute", written)
        event.listen(sync, "checkin", released)

        def unwatch() -> None:
            event.remove(sync, "after_cursor_execute", written)
            event.remove(sync, "checkin", released)

        return unwatch
