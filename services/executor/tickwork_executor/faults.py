"""Fault points: named places on a run's way where a test or a drill steps in.

`Executor(fault=...)` is awaited at each point it reaches (`FaultPoint`): a test holds a
claim or a record back there (an event it waits on, a sleep) instead of patching the
executor's internals. `TICKWORK_EXECUTOR_FAULT=<point>` (e.g. `after_record_commit`) in an
executor's environment makes it die at that point, as `kill -9` would (the drills prove
that what was committed is not lost with the process). Unset, always in production, no
point costs more than a `None` check.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

FAULT_ENV = "TICKWORK_EXECUTOR_FAULT"


class FaultPoint(StrEnum):
    BEFORE_CLAIM = "before_claim"
    """A batch of deliveries is about to be claimed (its transaction not yet begun)."""
    BEFORE_RECORD = "before_record"
    """A batch of outcomes is about to be written (its transaction not yet begun)."""
    AFTER_RECORD_COMMIT = "after_record_commit"
    """A run's outcome (and its events) committed; nothing else done yet."""


class Fault(Protocol):
    """Awaited at each fault point reached; whatever it does happens there."""

    async def __call__(self, point: FaultPoint) -> None: ...


async def reach(fault: Fault | None, point: FaultPoint) -> None:
    """Step through `point`: the fault's turn, if there is one."""
    if fault is not None:
        await fault(point)


def fault_from_env(environ: Mapping[str, str]) -> Fault | None:
    """The fault `environ` asks for (`FAULT_ENV`), or None (no fault point set)."""
    wanted = environ.get(FAULT_ENV, "").strip()
    if not wanted:
        return None

    async def die_at(point: FaultPoint) -> None:
        if point == wanted:
            os.kill(os.getpid(), signal.SIGKILL)

    return die_at
