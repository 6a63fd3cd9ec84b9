"""Calling task functions: outcomes, timeouts (async and sync), cancellation, bad args."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from tickwork_executor.errors import TaskFailed
from tickwork_executor.record.outcomes import Outcome
from tickwork_executor.run.runner import create_pool, execute
from tickwork_executor.tasks import RunContext, spec_of, task_function
from tickwork_shared.enums import ExecutionStatus

CONTEXT = RunContext("e-1", 1, datetime(2026, 5, 1, tzinfo=UTC), 1, "1:m:x")
RELEASE = threading.Event()


@task_function("t.echo")
async def echo(value: Any, *, ctx: RunContext) -> dict[str, Any]:
    return {"value": value, "attempt": ctx.attempt}


@task_function("t.fail")
def fail_sync(message: str) -> None:
    raise TaskFailed(message)


@task_function("t.nap")
async def nap(seconds: float) -> None:
    await asyncio.sleep(seconds)


@task_function("t.block")
def block(seconds: float) -> str:
    RELEASE.wait(seconds)
    return "returned"


@task_function("t.own_timeout")
async def own_timeout() -> None:
    raise TimeoutError("the remote side timed out")


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    pool = create_pool(2)
    yield pool
    RELEASE.set()
    pool.shutdown(wait=True)
    RELEASE.clear()


async def run(
    func: Any,
    args: dict[str, Any],
    pool: ThreadPoolExecutor,
    *,
    timeout: float = 5.0,
    threads: list[asyncio.Future[Any]] | None = None,
) -> Outcome:
    return await execute(
        spec_of(func),
        args,
        CONTEXT,
        timeout_seconds=timeout,
        pool=pool,
        max_result_bytes=1024,
        threads=threads if threads is not None else [],
    )


async def test_success_with_context(pool: ThreadPoolExecutor) -> None:
    outcome = await run(echo, {"value": [1, "a"]}, pool)
    assert outcome == Outcome(ExecutionStatus.SUCCEEDED, result={"value": [1, "a"], "attempt": 1})


async def test_a_sync_failure_is_type_and_message(pool: ThreadPoolExecutor) -> None:
    outcome = await run(fail_sync, {"message": "boom"}, pool)
    assert outcome == Outcome(ExecutionStatus.FAILED, error="TaskFailed: boom")


async def test_bad_args_fail_without_calling(pool: ThreadPoolExecutor) -> None:
    outcome = await run(nap, {"seconds": "long"}, pool)
    assert outcome.status is ExecutionStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.startswith("InvalidArguments: ")
    assert "seconds" in outcome.error


async def test_an_async_task_is_cancelled_at_its_timeout(pool: ThreadPoolExecutor) -> None:
    started = asyncio.get_running_loop().time()
    outcome = await run(nap, {"seconds": 30}, pool, timeout=0.2)
    assert outcome.status is ExecutionStatus.TIMED_OUT
    assert outcome.error == "TimeoutError: the task did not finish within 0.2 s"
    assert asyncio.get_running_loop().time() - started < 2


async def test_a_timeout_raised_by_the_task_itself_is_a_failure(pool: ThreadPoolExecutor) -> None:
    outcome = await run(own_timeout, {}, pool)
    assert outcome == Outcome(
        ExecutionStatus.FAILED, error="TimeoutError: the remote side timed out"
    )


async def test_a_sync_task_times_out_while_its_thread_goes_on(pool: ThreadPoolExecutor) -> None:
    threads: list[asyncio.Future[Any]] = []
    outcome = await run(block, {"seconds": 30}, pool, timeout=0.2, threads=threads)
    assert outcome.status is ExecutionStatus.TIMED_OUT
    assert len(threads) == 1
    assert not threads[0].done()  # the thread keeps its slot…
    RELEASE.set()
    assert await asyncio.wait_for(threads[0], 5) == "returned"  # …until it returns


async def test_a_sync_task_runs_off_the_event_loop(pool: ThreadPoolExecutor) -> None:
    threads: list[asyncio.Future[Any]] = []
    call = asyncio.create_task(run(block, {"seconds": 30}, pool, threads=threads))
    await asyncio.sleep(0.05)
    assert not call.done()  # the loop is free while the thread blocks
    RELEASE.set()
    assert (await call).result == "returned"


async def test_an_interrupt_propagates_as_cancellation(pool: ThreadPoolExecutor) -> None:
    call = asyncio.create_task(run(nap, {"seconds": 30}, pool))
    await asyncio.sleep(0.05)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
