"""`Admission`: whether a request to `/api/v1` may go ahead, decided before its body is
read: the API key (401), the key's request rate (429) and the failed authentications of
its client address (429).

It runs from `AuthenticatedRoute`, after routing (so metrics keep the route template)
and before FastAPI parses the body, so a caller without a valid key learns nothing
from validation errors and costs no parsing. The counts are in this process: with N api
replicas a key may make N times `TICKWORK_API_RATE_LIMIT` requests a second in all.

Failed authentications: each unknown, revoked or expired key presented from an address
takes a token from that address's bucket (`AUTH_FAILURE_BURST`, refilled at
`TICKWORK_API_AUTH_FAILURE_RATE` a second); once it is empty, requests from that address
are answered 429 before any key is looked up, until a token is back. A missing key costs
no lookup and no token.

Valid keys are kept for `TICKWORK_API_KEY_CACHE_SECONDS` (`key_cache`): a revocation
through this process applies at once, one made elsewhere within that time.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from fastapi import Request
from tickwork_shared.db.engine import SessionFactory

from tickwork_api.actor import Actor
from tickwork_api.errors import TooManyRequests, Unauthorized
from tickwork_api.key_cache import KeyCache
from tickwork_api.rate_limit import RateLimiter

logger = logging.getLogger(__name__)

AUTH_FAILURE_BURST = 20
"""Failed authentications one address may make in a row before it is slowed down."""
BURST_FACTOR = 2
"""A key may burst to twice its per-second rate (API.md)."""

Clock = Callable[[], float]


def retry_after(seconds: float) -> int:
    """Whole seconds for `Retry-After`, never 0 (0 would invite an immediate retry)."""
    return max(1, math.ceil(seconds))


def bearer_key(request: Request) -> str | None:
    """The key of `Authorization: Bearer <key>`, or None when absent or not Bearer."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


class Admission:
    def __init__(
        self,
        sessions: SessionFactory,
        *,
        rate_limit: float | None,
        auth_failure_rate: float,
        key_cache_seconds: float = 0.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.keys = KeyCache(key_cache_seconds, clock=clock)
        self._per_key: RateLimiter[int] | None = (
            RateLimiter(rate_limit, max(1.0, BURST_FACTOR * rate_limit)) if rate_limit else None
        )
        self._failures: RateLimiter[str] = RateLimiter(auth_failure_rate, AUTH_FAILURE_BURST)

    async def admit(self, request: Request) -> Actor:
        """The actor behind the request; raises `Unauthorized` or `TooManyRequests`."""
        address = request.client.host if request.client else "unknown"
        wait = self._failures.wait(address, self._clock())
        if wait > 0:
            raise TooManyRequests(
                "Too many failed authentications from this address; retry later",
                retry_after=retry_after(wait),
            )
        key = bearer_key(request)
        if key is None:
            raise Unauthorized("An API key is required: send `Authorization: Bearer <api key>`")
        known = await self.keys.find(self._sessions, key)
        if known is None:
            now = self._clock()
            self._failures.take(address, now)
            if self._failures.wait(address, now) > 0:  # the bucket just ran out: once per run
                logger.warning(
                    "too many failed authentications from %s: slowed down",
                    address,
                    extra={"action": "auth_failures_throttled", "client": address},
                )
            raise Unauthorized("Unknown, revoked or expired API key")
        if self._per_key is not None:
            wait = self._per_key.take(known.actor.key_id, self._clock())
            if wait > 0:
                raise TooManyRequests(
                    "Rate limit of this API key exceeded; retry later",
                    retry_after=retry_after(wait),
                )
        return known.actor
