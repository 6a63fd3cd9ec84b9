"""`run_service`: signals set the stop event, and how a main ends is the exit code;
`Component`, `unless_stopped` and `freeze_heap`."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import weakref

import pytest
from tickwork_shared.errors import ConfigurationError, TickworkError
from tickwork_shared.lifecycle import (
    EXIT_CRASHED,
    EXIT_MISCONFIGURED,
    EXIT_STOPPED,
    Component,
    freeze_heap,
    run_service,
    unless_stopped,
)


def test_sigterm_sets_the_stop_event_and_a_clean_stop_exits_0() -> None:
    seen: list[str] = []

    async def main(stop: asyncio.Event) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(stop.wait(), 5)
        seen.append("stopped")

    assert run_service(main, name="test") == EXIT_STOPPED
    assert seen == ["stopped"]


def test_a_second_signal_is_ignored_while_stopping() -> None:
    async def main(stop: asyncio.Event) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.wait_for(stop.wait(), 5)
        os.kill(os.getpid(), signal.SIGTERM)  # would end the process without a handler
        await asyncio.sleep(0.05)

    assert run_service(main, name="test") == EXIT_STOPPED
    # The handlers are gone with the loop: the default disposition is back.
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_misconfiguration_is_one_line_per_problem_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def main(stop: asyncio.Event) -> None:
        raise ConfigurationError("TICKWORK_X is wrong\nTICKWORK_Y is missing")

    assert run_service(main, name="planner") == EXIT_MISCONFIGURED
    assert capsys.readouterr().err.splitlines() == [
        "tickwork planner: TICKWORK_X is wrong",
        "tickwork planner: TICKWORK_Y is missing",
    ]


def test_a_crash_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    async def crash(stop: asyncio.Event) -> None:
        raise RuntimeError("bug")

    async def refused(stop: asyncio.Event) -> None:
        raise TickworkError("the api refused")

    assert run_service(crash, name="executor") == EXIT_CRASHED
    assert run_service(refused, name="executor") == EXIT_CRASHED
    assert "tickwork executor: the api refused" in capsys.readouterr().err


async def test_unless_stopped_cancels_the_work_when_stopped_first() -> None:
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.get_running_loop().call_later(0.01, stop.set)
    assert await unless_stopped(stop, forever()) is False
    assert cancelled.is_set()


async def test_unless_stopped_returns_the_work_or_its_error() -> None:
    async def done() -> None:
        return None

    async def failing() -> None:
        raise ValueError("no")

    assert await unless_stopped(asyncio.Event(), done()) is True
    with pytest.raises(ValueError, match="no"):
        await unless_stopped(asyncio.Event(), failing())


class Parts(Component):
    def __init__(self, fail: bool = False) -> None:
        self.events: list[str] = []
        self.fail = fail

    async def start(self) -> None:
        self.events.append("start")
        if self.fail:
            raise RuntimeError("half started")

    async def close(self) -> None:
        self.events.append("close")


async def test_a_component_is_closed_after_its_block_and_after_a_failed_start() -> None:
    ok = Parts()
    async with ok:
        ok.events.append("use")
    assert ok.events == ["start", "use", "close"]

    broken = Parts(fail=True)
    with pytest.raises(RuntimeError, match="half started"):
        async with broken:
            broken.events.append("never")
    assert broken.events == ["start", "close"]


def test_freeze_heap_collects_garbage_first_then_keeps_the_rest_out_of_full_passes() -> None:
    class Node:
        peer: object = None

    garbage = Node()
    garbage.peer = garbage  # a cycle: only the collector frees it
    freed = weakref.ref(garbage)
    del garbage
    try:
        freeze_heap()
        assert freed() is None, "garbage was frozen for good instead of collected"
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
