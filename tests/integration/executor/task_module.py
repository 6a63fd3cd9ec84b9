"""Task functions for the executor's tests (loaded through `TICKWORK_TASK_MODULES`).

They record what happened in this process, so tests can count side effects: calls per
execution, how many ran at once, which were cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from tickwork_executor.tasks import RunContext, task_function


@dataclass
class Record:
    calls: Counter[str] = field(default_factory=Counter)
    cancelled: set[str] = field(default_factory=set)
    running: int = 0
    peak: int = 0
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


RECORD = Record()


@task_function("test.work", description="Counts its call, then sleeps `seconds`.")
async def work(seconds: float = 0.0, *, context: RunContext) -> dict[str, object]:
    RECORD.calls[context.execution_id] += 1
    RECORD.running += 1
    RECORD.peak = max(RECORD.peak, RECORD.running)
    started = time.monotonic()
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        RECORD.cancelled.add(context.execution_id)
        raise
    finally:
        RECORD.running -= 1
        RECORD.spans[context.execution_id] = (started, time.monotonic())
    return {"attempt": context.attempt, "key": context.idempotency_key}


@task_function("test.sync_work", description="Counts its call, then blocks `seconds`.")
def sync_work(seconds: float = 0.0, *, context: RunContext) -> str:
    RECORD.calls[context.execution_id] += 1
    time.sleep(seconds)
    return "slept"


@task_function("test.big", description="Returns a string of `size` characters.")
async def big(size: int) -> str:
    return "x" * size
