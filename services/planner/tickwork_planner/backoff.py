"""How long a failed attempt waits before its retry: a pure function, no clock, no I/O.

Exponential from the job's `retryBackoffSeconds` (``base * 2^(attempt - 1)``), stretched by
a deterministic jitter of up to `JITTER_RATIO` (a hash of the run and the attempt, so every
planner computes the same delay and retries of many runs that failed together spread out
instead of stampeding back at once), and capped: the result never exceeds `cap_seconds`.
"""

from __future__ import annotations

from datetime import timedelta
from hashlib import blake2b

JITTER_RATIO = 0.2
"""The delay grows by a deterministic fraction in [0, JITTER_RATIO) of itself."""

_MAX_DOUBLINGS = 62  # 2**62 seconds is far past any cap; avoids float overflow


def jitter_fraction(key: str) -> float:
    """A number in [0, 1) that depends only on `key`, spread uniformly."""
    digest = blake2b(key.encode(), digest_size=8, person=b"tickwork-retry").digest()
    return int.from_bytes(digest, "big") / 2**64


def retry_backoff(
    base_seconds: float, attempt: int, *, cap_seconds: float, jitter_key: str
) -> timedelta:
    """The wait before the retry of failed attempt `attempt` (1 = the first run).

    ``min(cap, base * 2^(attempt-1) * (1 + JITTER_RATIO * u))`` with ``u = jitter_fraction(
    jitter_key)``. So the first retry waits `base` (plus jitter), the second twice that, and
    so on. A zero or negative base retries at once; the cap bounds every delay.
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if base_seconds <= 0 or cap_seconds <= 0:
        return timedelta(0)
    raw = base_seconds * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS)
    stretched = raw * (1.0 + JITTER_RATIO * jitter_fraction(jitter_key))
    return timedelta(seconds=min(cap_seconds, stretched))
