"""The planner's two bus consumers: inbound `job.trigger` commands and `job.*` wake-ups.

Started in the background with retries, so a planner whose broker is not up yet still
plans; once started they survive reconnects by themselves (the bus's promise). On stop,
commands are paused and those in hand finish (ack after commit) before the consumers close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from tickwork_shared.bus.abc import Bus, Delivery, Subscription
from tickwork_shared.bus.topology import EVENTS_EXCHANGE, TRIGGER_QUEUE
from tickwork_shared.resilience import retry_until_done, warn_each_retry

from tickwork_planner.commands import TriggerConsumer

logger = logging.getLogger(__name__)

COMMAND_PREFETCH = 32
WAKE_BINDINGS = ("job.*",)


class BusListeners:
    def __init__(
        self,
        bus: Bus,
        *,
        commands: TriggerConsumer,
        on_job_event: Callable[[], None],
        stopping: asyncio.Event,
    ) -> None:
        self._bus = bus
        self._consumer = commands
        self._on_job_event = on_job_event
        self._stopping = stopping
        self._wake: Subscription | None = None
        self._commands: Subscription | None = None

    @property
    def started(self) -> bool:
        return self._wake is not None and self._commands is not None

    async def start(self) -> None:
        """Subscribe both, retrying with the `RECOVERY` back-off until done or stopping.

        Any failure is retried, not only a lost connection: a planner that cannot listen
        yet still plans, and it must not give listening up for good.
        """
        await retry_until_done(
            self._subscribe,
            is_transient=_any,
            stop=self._stopping,
            on_retry=warn_each_retry(
                logger, "cannot subscribe to the bus yet", "planner_subscribe_failed"
            ),
        )

    async def _subscribe(self) -> None:
        if self._wake is None:
            self._wake = await self._bus.subscribe(
                EVENTS_EXCHANGE, list(WAKE_BINDINGS), self._job_event
            )
        if self._commands is None:
            self._commands = await self._bus.consume(
                TRIGGER_QUEUE, self._consumer, prefetch=COMMAND_PREFETCH
            )

    async def settle(self, within: float) -> None:
        """Take no new commands; give those in hand up to `within` seconds to finish."""
        if self._commands is None:
            return
        with contextlib.suppress(Exception):
            await self._commands.pause()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._consumer.wait_idle()

    async def close(self) -> None:
        """Close both; unsettled commands go back to the queue for another planner."""
        for subscription in (self._commands, self._wake):
            if subscription is None:
                continue
            try:
                await subscription.close()
            except Exception as error:
                logger.warning(
                    "could not close a subscription: %s",
                    error,
                    extra={"action": "planner_unsubscribe_failed"},
                )
        self._commands = self._wake = None

    async def _job_event(self, _delivery: Delivery) -> None:
        self._on_job_event()


def _any(_error: BaseException) -> bool:
    return True
