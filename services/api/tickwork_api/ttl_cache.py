"""`TtlCache`: answers kept for a few seconds, as pure logic over a given time.

The api keeps two: API keys found valid (`Admission`) and the totals of large list pages
(`repositories.paging`). Nothing here reads a clock: callers pass `now` (seconds,
monotonic), so tests decide time. A TTL of 0 keeps nothing.

A fill races a clear: a caller reads the database, a change is made and the cache
cleared, then the caller stores what it read before the change. `generation` closes
that window: take it before reading, hand it to `put`, and a value read before the
latest `clear` is not stored.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, *, max_entries: int = 10_000) -> None:
        if ttl < 0 or max_entries < 1:
            raise ValueError("a cache needs ttl >= 0 and max_entries >= 1")
        self.ttl = ttl
        self.max_entries = max_entries
        """Past this many, the oldest entry goes: a stream of new keys cannot grow it."""
        self._entries: dict[K, tuple[V, float]] = {}
        self._generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def generation(self) -> int:
        """Changes at every `clear`; take it before reading what will be `put`."""
        return self._generation

    def get(self, key: K, now: float) -> V | None:
        """The value stored for `key` less than `ttl` seconds before `now`, else None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, stored_at = entry
        if now - stored_at >= self.ttl:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V, now: float, *, generation: int | None = None) -> None:
        """Keep `value` for `key` from `now` on, unless the cache was cleared since
        `generation` was taken (then the value may predate the change: dropped)."""
        if self.ttl == 0 or (generation is not None and generation != self._generation):
            return
        self._entries.pop(key, None)  # re-inserted last: the dict stays oldest first
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (value, now)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
        self._generation += 1
