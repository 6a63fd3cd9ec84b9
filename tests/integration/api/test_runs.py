"""Manual triggers, cancelling, and execution history through the REST api."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from tickwork_api.repositories.executions import ExecutionFilters, list_executions
from tickwork_api.schemas.common import Paging
from tickwork_shared.bus.abc import Delivery
from tickwork_shared.bus.topology import RUNS_QUEUE
from tickwork_shared.enums import ExecutionStatus, Role

from tests.harness.waiting import wait_until
from tests.integration.api.conftest import Api, Events

JOBS = "/api/v1/jobs"
EXECUTIONS = "/api/v1/executions"
T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def test_trigger_queues_a_run_and_publishes_it(api: Api) -> None:
    messages: list[dict[str, object]] = []

    async def take(delivery: Delivery) -> None:
        messages.append(orjson.loads(delivery.body))
        await delivery.ack()

    subscription = await api.bus.consume(RUNS_QUEUE, take, prefetch=10)
    job = await api.create_job(isEnabled=False)  # a disabled job can be triggered
    response = await api.call("POST", f"{JOBS}/{job['id']}/trigger", role=Role.OPERATOR)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["jobId"] == job["id"]
    assert accepted["status"] == "queued"
    row = await api.execution(accepted["executionId"])
    assert (row.status, row.trigger, row.attempt) == ("queued", "manual", 1)
    assert row.triggered_by_id == api.key_ids[Role.OPERATOR]
    assert row.task_function == "tickwork.noop"

    async def published() -> bool:
        return bool(messages) and (await api.execution(row.execution_id)).published_at is not None

    await wait_until(published, what="the run message published and marked")
    assert messages == [
        {
            "schemaVersion": 1,
            "executionId": row.execution_id,
            "jobId": job["id"],
            "scheduledAt": messages[0]["scheduledAt"],
            "attempt": 1,
            "dueAt": messages[0]["scheduledAt"],  # due as it is triggered: no wait
        }
    ]
    await subscription.close()
    shown = (await api.call("GET", f"{EXECUTIONS}/{row.execution_id}")).json()
    assert shown["trigger"] == "manual"
    assert shown["triggeredById"] == api.key_ids[Role.OPERATOR]


@pytest.mark.parametrize("open_status", [ExecutionStatus.QUEUED, ExecutionStatus.RUNNING])
async def test_a_skip_job_with_an_open_run_refuses_a_trigger(
    api: Api, open_status: ExecutionStatus
) -> None:
    job = await api.create_job(overlapPolicy="skip")
    await api.add_run(job["id"], status=open_status)
    response = await api.call("POST", f"{JOBS}/{job['id']}/trigger")
    assert response.status_code == 400
    assert response.json()["detail"] == "Job already has a running execution"


@pytest.mark.parametrize("policy", ["queue", "allow"])
async def test_queue_and_allow_jobs_accept_triggers_while_a_run_is_open(
    api: Api, policy: str
) -> None:
    job = await api.create_job(overlapPolicy=policy)
    await api.add_run(job["id"], status=ExecutionStatus.RUNNING)
    for _ in range(2):
        response = await api.call("POST", f"{JOBS}/{job['id']}/trigger")
        assert response.status_code == 202


async def test_a_skip_job_idle_again_can_be_triggered(api: Api) -> None:
    job = await api.create_job()
    await api.add_run(job["id"], status=ExecutionStatus.SUCCEEDED)
    assert (await api.call("POST", f"{JOBS}/{job['id']}/trigger")).status_code == 202


async def test_concurrent_triggers_of_a_skip_job_queue_exactly_one_run(api: Api) -> None:
    for round_ in range(5):
        job = await api.create_job(name=f"race-{round_}")
        responses = await asyncio.gather(
            *(api.call("POST", f"{JOBS}/{job['id']}/trigger") for _ in range(2))
        )
        assert sorted(r.status_code for r in responses) == [202, 400]
        history = (await api.call("GET", f"{JOBS}/{job['id']}/executions")).json()
        assert history["total"] == 1


async def test_cancel_a_queued_run_ends_it_at_once(api: Api, events: Events) -> None:
    job = await api.create_job()
    row = await api.add_run(job["id"])
    response = await api.call("POST", f"{EXECUTIONS}/{row.execution_id}/cancel", role=Role.OPERATOR)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "cancelled"
    stored = await api.execution(row.execution_id)
    assert stored.status == "cancelled"
    assert stored.finished_at is not None
    assert stored.next_publish_at is None
    audit = await api.audit_rows("execution", row.execution_id)
    assert [(a.action, a.actor_id) for a in audit] == [("cancel", api.key_ids[Role.OPERATOR])]

    async def announced() -> bool:
        return bool(events.of("execution.cancelled"))

    await wait_until(announced, what="execution.cancelled")
    ended = await api.call("POST", f"{EXECUTIONS}/{row.execution_id}/cancel")
    assert ended.status_code == 409


async def test_cancel_a_running_run_asks_its_executor(api: Api) -> None:
    job = await api.create_job()
    row = await api.add_run(job["id"], status=ExecutionStatus.RUNNING)
    response = await api.call("POST", f"{EXECUTIONS}/{row.execution_id}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "running"
    stored = await api.execution(row.execution_id)
    assert stored.status == "running"
    assert stored.cancel_requested_at is not None


@pytest.mark.parametrize("ended", [s for s in ExecutionStatus if s.is_terminal])
async def test_cancel_an_ended_run_is_a_conflict(api: Api, ended: ExecutionStatus) -> None:
    job = await api.create_job()
    row = await api.add_run(job["id"], status=ended)
    response = await api.call("POST", f"{EXECUTIONS}/{row.execution_id}/cancel")
    assert response.status_code == 409
    assert (await api.execution(row.execution_id)).status == ended.value


async def test_history_is_newest_first_and_filters(api: Api) -> None:
    job = await api.create_job(overlapPolicy="allow")
    other = await api.create_job(name="other", overlapPolicy="allow")
    day = timedelta(days=1)
    first = await api.add_run(job["id"], scheduled_at=T0, status=ExecutionStatus.FAILED)
    retry = await api.add_run(
        job["id"],
        scheduled_at=T0,
        attempt=2,
        fire_key=first.fire_key,
        status=ExecutionStatus.SUCCEEDED,
    )
    second = await api.add_run(job["id"], scheduled_at=T0 + day, status=ExecutionStatus.SKIPPED)
    third = await api.add_run(job["id"], scheduled_at=T0 + 2 * day)
    foreign = await api.add_run(other["id"], scheduled_at=T0 + day / 2)

    async def ids(path: str) -> list[str]:
        response = await api.call("GET", path)
        assert response.status_code == 200, response.text
        return [i["executionId"] for i in response.json()["items"]]

    mine = [third.execution_id, second.execution_id, retry.execution_id, first.execution_id]
    assert await ids(f"{JOBS}/{job['id']}/executions") == mine
    assert await ids(f"{EXECUTIONS}?jobId={job['id']}") == mine
    assert await ids(EXECUTIONS) == [*mine[:2], foreign.execution_id, *mine[2:]]
    assert await ids(f"{EXECUTIONS}?status=skipped") == [second.execution_id]
    since, until = "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"
    assert await ids(f"{EXECUTIONS}?since={since}") == mine[:2]  # inclusive
    assert await ids(f"{EXECUTIONS}?until={until}") == [
        second.execution_id,
        foreign.execution_id,
        *mine[2:],
    ]  # exclusive: the run at 3 March is out
    assert await ids(f"{EXECUTIONS}?since={since}&until={until}&jobId={job['id']}") == [
        second.execution_id
    ]
    page = (await api.call("GET", f"{EXECUTIONS}?page=2&perPage=2")).json()
    assert page["total"] == 5
    assert [i["executionId"] for i in page["items"]] == [
        foreign.execution_id,
        retry.execution_id,
    ]
    assert (await api.call("GET", f"{EXECUTIONS}?status=lost")).status_code == 422
    assert (await api.call("GET", f"{EXECUTIONS}?since=yesterday")).status_code == 422
    assert (await api.call("GET", f"{EXECUTIONS}?since=2026-03-02T00:00:00")).status_code == 422


async def test_counting_a_long_history_stops_at_the_limit(api: Api) -> None:
    job = await api.create_job(overlapPolicy="allow")
    for day in range(6):
        await api.add_run(job["id"], scheduled_at=T0 + timedelta(days=day))

    async def total(page: int, per_page: int) -> int:
        async with api.sessions() as session:
            paging = Paging(page, per_page)
            _, counted = await list_executions(session, ExecutionFilters(), paging, count_limit=3)
            return counted

    assert await total(1, 2) == 3  # at least 3: a lower bound past this page
    assert await total(2, 2) == 5  # one row past page 2: still says "there is more"
    assert await total(3, 2) == 6  # a short or last page knows the exact total
    assert await total(2, 5) == 6
    assert (await api.call("GET", f"{EXECUTIONS}?perPage=2")).json()["total"] == 6


async def test_an_execution_has_the_rest_shape(api: Api) -> None:
    job = await api.create_job()
    row = await api.add_run(job["id"], scheduled_at=T0, status=ExecutionStatus.SUCCEEDED)
    shown = (await api.call("GET", f"{EXECUTIONS}/{row.execution_id}", role=Role.VIEWER)).json()
    assert set(shown) == {
        "executionId",
        "jobId",
        "scheduledAt",
        "attempt",
        "trigger",
        "status",
        "reason",
        "queuedAt",
        "startedAt",
        "finishedAt",
        "durationMs",
        "executorId",
        "hostName",
        "result",
        "error",
        "triggeredById",
    }
    assert shown["scheduledAt"] == "2026-03-01T00:00:00Z"
