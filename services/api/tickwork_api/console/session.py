"""The console's sign-in: an API key kept in a session cookie, checked like a REST key.

The key is entered once on the key page and kept only for the browser session: a cookie
without Max-Age or Expires (gone when the browser closes), HttpOnly (no script reads it),
SameSite=Strict (no other site's page sends it) and Path=/ui (the REST API never sees
it). Every page and action checks it with `find_active_key`, as `authenticate` does for
a Bearer key, so a key revoked (or expired) meanwhile is refused at its next click.

Actions also carry a per-session CSRF token in their form: an HMAC of a fixed label
under the key itself, so it needs no server state, differs per key and cannot be derived
from anything the database holds (keys are stored as SHA-256 hashes of the key alone).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import ApiKey
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import Role

from tickwork_api.actor import Actor, role_allows
from tickwork_api.keys import find_active_key, hash_key

COOKIE = "tickwork_console_key"
COOKIE_PATH = "/ui"
MAX_KEY_LENGTH = 200
REASONS = {
    "missing": "Enter an API key to use the console.",
    "unknown": "This API key is not known. Check that it was copied whole.",
    "revoked": "This API key has been revoked. Ask an admin for a new one.",
    "expired": "This API key is no longer valid (expired). Ask an admin for a new one.",
    "signed-out": "Signed out. The key is forgotten by this browser.",
}


class KeyNeeded(Exception):
    """The request has no usable key: show the key page with `reason` (a `REASONS` key)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Visitor:
    """Who is looking: the key's actor and what the pages may offer it."""

    actor: Actor
    key_name: str
    csrf: str

    @property
    def can_operate(self) -> bool:
        """Run now, Pause, Resume (the REST routes' `OperatorDep`)."""
        return role_allows(self.actor.role, Role.OPERATOR)

    @property
    def can_admin(self) -> bool:
        """Delete, and seeing argument values under secret-looking keys."""
        return role_allows(self.actor.role, Role.ADMIN)


def csrf_token(key: str) -> str:
    return hmac.new(key.encode(), b"tickwork-console-csrf", hashlib.sha256).hexdigest()


def csrf_matches(key: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(key), sent)


async def refusal(sessions: SessionFactory, key: str) -> str:
    """Why a key that `find_active_key` refused is refused: unknown, revoked or (a stored
    key refused for any other reason) expired."""
    digest = hash_key(key)

    async def work(session: AsyncSession) -> ApiKey | None:
        query = select(ApiKey).where(ApiKey.key_hash == digest)
        return (await session.scalars(query)).one_or_none()

    record = await run_in_transaction(sessions, work, what="console key refusal")
    if record is None:
        return "unknown"
    return "revoked" if record.revoked_at is not None else "expired"


async def check_key(sessions: SessionFactory, key: str | None) -> Visitor:
    """The visitor behind `key`, or `KeyNeeded` naming why there is none."""
    if not key:
        raise KeyNeeded("missing")
    if len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise KeyNeeded("unknown")
    record = await find_active_key(sessions, key)
    if record is None:
        raise KeyNeeded(await refusal(sessions, key))
    return Visitor(Actor(key_id=record.id, role=Role(record.role)), record.name, csrf_token(key))
