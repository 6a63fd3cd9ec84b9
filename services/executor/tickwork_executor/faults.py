"""Fault points a drill can turn on: the executor kills itself (SIGKILL) at a named point.

`TICKWORK_EXECUTOR_FAULT=<point>` (e.g. `after_record_commit`) in the executor's
environment makes it die there, as `kill -9` would; unset (always, in production) it does
nothing. Tests use it to prove that what was committed is not lost with the process.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping

FAULT_ENV = "TICKWORK_EXECUTOR_FAULT"
AFTER_RECORD_COMMIT = "after_record_commit"
"""A run's outcome (and its events) committed; nothing else done yet."""

FaultHook = Callable[[str], None]


def fault_hook_from_env(environ: Mapping[str, str]) -> FaultHook | None:
    """The hook `environ` asks for, or None (no fault point set)."""
    point = environ.get(FAULT_ENV, "").strip()
    if not point:
        return None

    def die_at(reached: str) -> None:
        if reached == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return die_at
