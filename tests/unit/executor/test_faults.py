"""Fault points: a test's fault is awaited where the executor reaches it; the drills' one
(`TICKWORK_EXECUTOR_FAULT`) kills the process at the point it names, and only there."""

from __future__ import annotations

import os
import signal

import pytest
from tickwork_executor import faults
from tickwork_executor.faults import FAULT_ENV, FaultPoint, fault_from_env, reach


def test_no_fault_without_the_variable() -> None:
    assert fault_from_env({}) is None
    assert fault_from_env({FAULT_ENV: "  "}) is None


async def test_the_named_point_kills_the_process_and_no_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    fault = fault_from_env({FAULT_ENV: "after_record_commit"})
    await reach(fault, FaultPoint.BEFORE_CLAIM)
    await reach(fault, FaultPoint.BEFORE_RECORD)
    assert killed == []
    await reach(fault, FaultPoint.AFTER_RECORD_COMMIT)
    assert killed == [(os.getpid(), signal.SIGKILL)]


async def test_a_tests_fault_is_awaited_at_each_point_reached() -> None:
    reached: list[FaultPoint] = []

    async def fault(point: FaultPoint) -> None:
        reached.append(point)

    await reach(None, FaultPoint.BEFORE_CLAIM)  # no fault: nothing to do
    await reach(fault, FaultPoint.BEFORE_CLAIM)
    await reach(fault, FaultPoint.BEFORE_RECORD)
    assert reached == [FaultPoint.BEFORE_CLAIM, FaultPoint.BEFORE_RECORD]
