"""Fault points of the planner: named places where a test makes it die on the spot.

`Planner(fault_hook=...)` is called with the name of each point it reaches; a hook that
raises `SimulatedCrash` there kills the planner as `kill -9` would, so a test proves
that what was committed is not lost with it. Off (no hook) in production.
"""

from __future__ import annotations

from collections.abc import Callable

FaultHook = Callable[[str], None]
"""Called at named points of the planner's work; a test hook raises there to simulate a
crash. Off unless passed to `Planner`."""
AFTER_PLAN_COMMIT = "after_plan_commit"
"""A planning tick committed rows and has not handed them to the publisher yet."""


class SimulatedCrash(BaseException):
    """Raised by a fault hook: the planner dies on the spot, as a killed process would.

    A `BaseException`, so no loop's error handling catches it; `Planner.serve` re-raises
    it, and leaving the `async with` then cancels the loops without the graceful steps.
    """
