"""Runs end in the right status with the right fields, and say so on the bus."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import REGISTRY
from sqlalchemy import update
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, JobType

from tests.harness.waiting import wait_until
from tests.integration.executor.conftest import Events, Fleet, Publish
from tests.integration.executor.helpers import (
    add_job,
    add_run,
    add_run_of_new_job,
    read_job,
    read_run,
    run_status,
)
from tests.integration.executor.task_module import RECORD


async def test_a_successful_run(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish, events: Events
) -> None:
    await fleet.start()
    async with maria_sessions() as session, session.begin():
        reports = JobType(
            name="reports", created_at=datetime.now(UTC), updated_at=datetime.now(UTC)
        )
        session.add(reports)
    job = await add_job(
        maria_sessions, task_function="test.work", args={"seconds": 0.2}, job_type_id=reports.id
    )
    row = await add_run(maria_sessions, job)
    counted = {"job_type": "reports", "status": "succeeded"}
    before = REGISTRY.get_sample_value("tickwork_executions_total", counted) or 0
    await publish(row)

    done = await run_status(maria_sessions, row.execution_id, "succeeded")
    assert done.result == {"attempt": 1, "key": row.idempotency_key}
    assert (done.error, done.reason) == (None, None)
    assert done.started_at is not None
    assert done.finished_at is not None
    assert done.duration_ms is not None
    assert 200 <= done.duration_ms < 2000
    assert done.duration_ms == round((done.finished_at - done.started_at).total_seconds() * 1000)
    assert (done.executor_id, done.retry_handled) == ("executor-0", True)
    assert done.host_name
    job_now = await read_job(maria_sessions, job.id)
    assert job_now.last_run_at == done.started_at
    assert job_now.last_success_at == done.finished_at
    await wait_until(
        lambda: events.keys_of(row.execution_id) == ["execution.running", "execution.succeeded"],
        what="running then succeeded events",
    )
    assert RECORD.calls[row.execution_id] == 1
    assert REGISTRY.get_sample_value("tickwork_executions_total", counted) == before + 1


async def test_a_failing_run(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    await fleet.start()
    job = await add_job(maria_sessions, task_function="tickwork.fail", args={"message": "boom"})
    row = await add_run(maria_sessions, job)
    await publish(row)
    done = await run_status(maria_sessions, row.execution_id, "failed")
    assert (done.error, done.reason, done.result) == ("TaskFailed: boom", None, None)
    assert done.retry_handled is False  # the planner decides about the retry
    assert done.finished_at is not None
    assert (await read_job(maria_sessions, job.id)).last_success_at is None


async def test_invalid_args_fail_clearly(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    await fleet.start()
    row = await add_run_of_new_job(maria_sessions, task_function="tickwork.sleep", args={"secs": 1})
    await publish(row)
    done = await run_status(maria_sessions, row.execution_id, "failed")
    assert done.error is not None
    assert done.error.startswith("InvalidArguments: args do not match the parameters of ")
    assert "seconds: Field required" in done.error


async def test_a_run_past_its_timeout(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    await fleet.start()
    job = await add_job(
        maria_sessions, task_function="test.work", args={"seconds": 30}, timeout_seconds=1
    )
    row = await add_run(maria_sessions, job)
    await publish(row)
    done = await run_status(maria_sessions, row.execution_id, "timed_out")
    assert done.error == "TimeoutError: the task did not finish within 1 s"
    assert done.retry_handled is False
    assert done.duration_ms is not None
    assert 1000 <= done.duration_ms < 3000
    assert row.execution_id in RECORD.cancelled  # the coroutine was really stopped


async def test_cancelling_a_running_run(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish, events: Events
) -> None:
    await fleet.start(heartbeat_seconds=0.2)
    row = await add_run_of_new_job(maria_sessions, task_function="test.work", args={"seconds": 30})
    await publish(row)
    await run_status(maria_sessions, row.execution_id, "running")
    async with maria_sessions() as session, session.begin():  # what the api does
        await session.execute(
            update(JobExecution)
            .where(JobExecution.execution_id == row.execution_id)
            .values(cancel_requested_at=JobExecution.started_at)
        )
    done = await run_status(maria_sessions, row.execution_id, "cancelled", timeout=5)
    assert done.retry_handled is True  # a cancelled run is not retried
    assert done.finished_at is not None
    assert row.execution_id in RECORD.cancelled
    await wait_until(
        lambda: events.keys_of(row.execution_id)[-1:] == ["execution.cancelled"],
        what="the cancelled event",
    )


async def test_a_run_cancelled_while_queued_never_starts(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    executor = await fleet.start()
    row = await add_run_of_new_job(maria_sessions, task_function="test.work")
    async with maria_sessions() as session, session.begin():  # what the api does
        await session.execute(
            update(JobExecution)
            .where(JobExecution.execution_id == row.execution_id)
            .values(status="cancelled", finished_at=JobExecution.queued_at)
        )
    await publish(row)
    await wait_until(lambda: executor.consumer.stats.duplicates == 1, what="the drop")
    assert (await read_run(maria_sessions, row.execution_id)).status == "cancelled"
    assert RECORD.calls[row.execution_id] == 0


async def test_a_function_this_executor_does_not_offer(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish, events: Events
) -> None:
    executor = await fleet.start()
    row = await add_run_of_new_job(maria_sessions, task_function="reports.build")
    await publish(row)
    done = await run_status(maria_sessions, row.execution_id, "failed")
    assert done.reason == "unavailable"
    assert executor.consumer.stats.ended == 1  # once: no requeue loop
    await wait_until(
        lambda: events.keys_of(row.execution_id) == ["execution.failed"], what="the failed event"
    )


async def test_a_large_result_is_stored_truncated(
    fleet: Fleet, maria_sessions: SessionFactory, publish: Publish
) -> None:
    await fleet.start(max_result_bytes=1024)
    row = await add_run_of_new_job(maria_sessions, task_function="test.big", args={"size": 5000})
    await publish(row)
    done = await run_status(maria_sessions, row.execution_id, "succeeded")
    assert isinstance(done.result, dict)
    assert done.result["truncated"] is True
    assert done.result["originalBytes"] == 5002
    assert done.result["preview"].startswith('"xxxx')


async def test_task_functions_are_registered_with_their_schema(
    fleet: Fleet, maria_sessions: SessionFactory
) -> None:
    from sqlalchemy import select
    from tickwork_shared.db.models import TaskFunction

    await fleet.start()
    async with maria_sessions() as session:
        functions = {f.name: f for f in await session.scalars(select(TaskFunction))}
    assert {
        "tickwork.noop",
        "tickwork.sleep",
        "tickwork.fail",
        "http.request",
        "amqp.publish",
        "test.work",
        "test.sync_work",
        "test.big",
    } <= set(functions)
    work = functions["test.work"]
    assert work.description == "Counts its call, then sleeps `seconds`."
    assert work.params_schema["properties"] == {
        "seconds": {"default": 0.0, "title": "seconds", "type": "number"}
    }
    first_seen = work.first_seen_at
    await fleet.start()  # a second executor refreshes, it does not duplicate
    async with maria_sessions() as session:
        again = await session.scalar(select(TaskFunction).where(TaskFunction.name == "test.work"))
    assert again is not None
    assert again.first_seen_at == first_seen
    assert again.last_seen_at > work.last_seen_at
