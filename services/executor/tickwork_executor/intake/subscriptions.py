"""One executor, several pools: their subscriptions paused and resumed as one.

The consumer's back-pressure gate pauses "the" subscription while its slots are nearly
all taken; an executor serving several pools has one subscription per pool's queue, and
they must all stop taking runs together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tickwork_shared.bus.abc import Subscription


class SubscriptionGroup(Subscription):
    """Subscriptions handled as one; each method applies to all (they are idempotent).

    A failure of one is raised after the others were tried: the caller's gate retries
    the whole group, which is harmless for the members already done.
    """

    def __init__(self, members: Sequence[Subscription]) -> None:
        self._members = list(members)

    async def _each(self, method: str) -> None:
        outcomes = await asyncio.gather(
            *(getattr(member, method)() for member in self._members), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def pause(self) -> None:
        await self._each("pause")

    async def resume(self) -> None:
        await self._each("resume")

    async def close(self) -> None:
        await self._each("close")
