"""The shape every planner loop shares: tick, wait, survive failures, stop when asked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from tickwork_shared.db.retry import is_transient

from tickwork_planner.timing import failure_delay

logger = logging.getLogger(__name__)

Tick = Callable[[], Awaitable[float]]
"""One unit of work; returns the seconds to wait before the next one (0: at once)."""


async def run_loop(
    name: str,
    tick: Tick,
    *,
    wake: asyncio.Event,
    stopping: asyncio.Event,
    on_failure: Callable[[], None],
) -> None:
    """Run `tick` until `stopping` is set, checked between ticks (so between transactions).

    Setting `wake` ends a wait early. A failing tick (a database or broker outage, a bug)
    is logged and retried after an exponential back-off; it never ends the loop. Only a
    `BaseException` that is not an `Exception` (cancellation, a simulated crash) does.
    """
    failures = 0
    while not stopping.is_set():
        wake.clear()
        try:
            delay = await tick()
            failures = 0
        except Exception as error:
            failures += 1
            on_failure()
            delay = failure_delay(failures)
            log = logger.warning if is_transient(error) else logger.exception
            log(
                "planner %s failed (%s); retrying in %.1f s",
                name,
                error,
                delay,
                extra={"action": "planner_loop_failed", "loop": name, "failures": failures},
            )
        if delay <= 0:
            await asyncio.sleep(0)  # let the other loops in
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)


async def until_stopped_or_crashed(
    stopping: asyncio.Event, tasks: Sequence[asyncio.Task[None]]
) -> BaseException | None:
    """Wait for `stopping`; if a task dies first, its exception (the crash to re-raise).

    Tasks that end normally (a one-off start-up task) are not crashes.
    """
    stopper = asyncio.create_task(stopping.wait())
    pending: set[asyncio.Task[None] | asyncio.Task[bool]] = {stopper, *tasks}
    try:
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                return None
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    return task.exception()
    finally:
        stopper.cancel()
