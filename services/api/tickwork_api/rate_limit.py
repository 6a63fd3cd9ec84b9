"""Token buckets: how many requests a caller may make, as pure logic over a given time.

A bucket holds up to `burst` tokens and gains `rate` tokens a second; a request takes
one. An empty bucket answers how long until the next token, which the api sends as
`Retry-After`. `RateLimiter` keeps one bucket per caller (an API key, a client address);
buckets that have filled up again are forgotten, as a full bucket and no bucket are the
same, so a stream of new callers cannot grow the table without bound.

Nothing here reads a clock: callers pass `now` (seconds, monotonic), so tests decide time.
Counts live in the process: each api replica limits on its own.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass
class TokenBucket:
    rate: float
    """Tokens gained per second."""
    burst: float
    """The most tokens the bucket holds (and so the longest burst)."""
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate=rate, burst=burst, tokens=burst, updated_at=now)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated_at = max(self.updated_at, now)

    def take(self, now: float) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there is one
        (nothing is taken then, so a refused request costs the caller nothing more)."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def wait(self, now: float) -> float:
        """Seconds until a token is there, without taking one."""
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


class RateLimiter(Generic[K]):
    """One token bucket per key, all with the same `rate` and `burst`."""

    def __init__(self, rate: float, burst: float, *, max_keys: int = 10_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        """Past this many buckets, full ones are dropped, then the oldest: memory stays bounded."""
        self._buckets: dict[K, TokenBucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket(self, key: K, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self.prune(now)
            while len(self._buckets) >= self.max_keys:  # all busy: the oldest goes
                del self._buckets[next(iter(self._buckets))]
            bucket = self._buckets[key] = TokenBucket.full(self.rate, self.burst, now)
        return bucket

    def take(self, key: K, now: float) -> float:
        """0.0 if `key` may go ahead (a token taken), else the seconds to wait."""
        return self._bucket(key, now).take(now)

    def wait(self, key: K, now: float) -> float:
        """Seconds until `key` may go ahead (0.0: now), taking nothing."""
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None else bucket.wait(now)

    def prune(self, now: float) -> None:
        """Forget the buckets that are full again."""
        for key in [k for k, b in self._buckets.items() if b.is_full(now)]:
            del self._buckets[key]
