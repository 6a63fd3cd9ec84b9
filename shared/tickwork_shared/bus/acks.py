"""Acks of one AMQP channel sent together: the oldest run of acked deliveries as one frame.

`basic.ack(multiple=True)` with tag T settles every unsettled delivery of the channel up to
T, so it may only cover tags this side wants acked: the plan takes the longest run of
wanted tags from the oldest unsettled one, and sends the others alone. A delivery that
is being rejected, or that nobody settled yet, stays unsettled here until its own frame
went out, so no `multiple` ack ever covers it. Acks wanted in one turn of the event loop
go together (a claim batch acks all its deliveries at once); one flusher sends them in
order, so two frames never cover the same tag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AckPlan:
    """What to send for a channel's wanted acks."""

    up_to: int | None = None
    """Send one `multiple` ack with this tag (it covers at least two deliveries)."""
    singles: list[int] = field(default_factory=list)
    """Send an ack of its own for each of these tags."""

    def covered(self, unsettled: Mapping[int, bool]) -> list[int]:
        """Every tag this plan settles."""
        run = [tag for tag in unsettled if self.up_to is not None and tag <= self.up_to]
        return run + self.singles


def plan_acks(unsettled: Mapping[int, bool]) -> AckPlan:
    """The plan for a channel whose unsettled deliveries are `unsettled` (tag → ack wanted)."""
    tags = sorted(unsettled)
    run = 0
    while run < len(tags) and unsettled[tags[run]]:
        run += 1
    rest = [tag for tag in tags[run:] if unsettled[tag]]
    if run >= 2:
        return AckPlan(up_to=tags[run - 1], singles=rest)
    return AckPlan(singles=tags[:run] + rest)


SendAck = Callable[[int, bool], Awaitable[None]]
"""Sends `basic.ack(delivery_tag, multiple)` on the channel."""


class ChannelAcks:
    """The unsettled deliveries of one channel and the acks wanted for them."""

    def __init__(self, send: SendAck) -> None:
        self._send = send
        self._unsettled: dict[int, bool] = {}
        self._waiting: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.frames = 0
        """Ack frames sent (for tests and curiosity)."""

    def received(self, tag: int) -> None:
        """A delivery arrived (call before anything can settle a later one)."""
        self._unsettled[tag] = False

    def settled_alone(self, tag: int) -> None:
        """The delivery was settled by a frame of its own (a reject), already sent."""
        self._unsettled.pop(tag, None)

    async def ack(self, tag: int) -> None:
        """Ack the delivery with the others wanted in this turn; raises what sending
        raised (a closed channel)."""
        self._unsettled[tag] = True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        await waiter

    async def _flush(self) -> None:
        try:
            while self._waiting:
                await asyncio.sleep(0)  # the acks of this turn of the loop join
                waiting, self._waiting = self._waiting, []
                plan = plan_acks(self._unsettled)
                for tag in plan.covered(self._unsettled):
                    del self._unsettled[tag]
                try:
                    if plan.up_to is not None:
                        self.frames += 1
                        await self._send(plan.up_to, True)
                    for tag in plan.singles:
                        self.frames += 1
                        await self._send(tag, False)
                except BaseException as error:
                    for waiter in waiting:
                        if not waiter.done():
                            waiter.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
                    continue
                for waiter in waiting:
                    if not waiter.done():
                        waiter.set_result(None)
        finally:
            self._flusher = None
