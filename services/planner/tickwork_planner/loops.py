"""The shape every planner loop shares: tick, wait, survive failures, stop when asked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from tickwork_shared.db.retry import is_transient
from tickwork_shared.resilience import Tick, repeat_until_stopped

logger = logging.getLogger(__name__)


async def run_loop(
    name: str,
    tick: Tick,
    *,
    wake: asyncio.Event,
    stopping: asyncio.Event,
    on_failure: Callable[[], None],
) -> None:
    """Run `tick` until `stopping` is set (`repeat_until_stopped`, `RECOVERY` back-off).

    Setting `wake` ends a wait early (`Planner.stop` sets every loop's). A failing tick is
    logged (a traceback unless the failure is transient) and counted by `on_failure`.
    """

    def failed(failures: int, error: Exception, delay: float) -> None:
        on_failure()
        log = logger.warning if is_transient(error) else logger.exception
        log(
            "planner %s failed (%s); retrying in %.1f s",
            name,
            error,
            delay,
            extra={"action": "planner_loop_failed", "loop": name, "failures": failures},
        )

    await repeat_until_stopped(tick, stop=stopping, wake=wake, on_failure=failed)


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
