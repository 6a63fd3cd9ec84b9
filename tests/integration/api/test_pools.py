"""Pools through the api: a job's pool must offer its function, runs carry the pool,
`/executors` tells who is alive and `/pools` what waits (from the database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from tickwork_shared.bus.abc import Delivery
from tickwork_shared.db.models import JobExecution
from tickwork_shared.enums import Role

from tests.factories import ensure_task_function, executor_row
from tests.harness.waiting import wait_until
from tests.integration.api.conftest import Api, job_body

JOBS = "/api/v1/jobs"


async def _offer(api: Api, name: str, *pools: str) -> None:
    async with api.sessions() as session, session.begin():
        await ensure_task_function(session, name, {"type": "object"}, pools=pools)


def _field_errors(response: Any) -> dict[str, str]:
    return {error["field"]: error["message"] for error in response.json()["errors"]}


async def test_a_job_whose_pool_does_not_offer_its_function_is_refused(api: Api) -> None:
    await _offer(api, "gpu.render", "gpu")
    refused = await api.call("POST", JOBS, json=job_body(taskFunction="gpu.render"))
    assert refused.status_code == 422
    assert "pool 'default'" in _field_errors(refused)["taskFunction"]
    refused = await api.call("POST", JOBS, json=job_body(pool="vpn", taskFunction="gpu.render"))
    assert "pool 'vpn'" in _field_errors(refused)["taskFunction"]

    job = await api.create_job(pool="gpu", taskFunction="gpu.render")
    assert job["pool"] == "gpu"
    assert job["maxConcurrentRuns"] is None
    assert (await api.create_job(name="plain"))["pool"] == "default"

    # Moving it to a pool without the function, or giving it such a function: refused.
    path = f"{JOBS}/{job['id']}"
    moved = await api.call("PATCH", path, json={"pool": "default"})
    assert moved.status_code == 422
    assert "taskFunction" in _field_errors(moved)
    swapped = await api.call("PATCH", path, json={"taskFunction": "http.request"})
    assert swapped.status_code == 422
    assert "pool 'gpu'" in _field_errors(swapped)["taskFunction"]


async def test_pool_names_are_checked(api: Api) -> None:
    for bad in ("GPU", "-x", "a" * 41, "dead", "gpu.x", "", None):
        response = await api.call("POST", JOBS, json=job_body(pool=bad))
        assert response.status_code == 422, bad
        assert "pool" in _field_errors(response), bad


async def test_max_concurrent_runs_only_with_overlap_allow(api: Api) -> None:
    refused = await api.call("POST", JOBS, json=job_body(maxConcurrentRuns=2))
    assert refused.status_code == 422  # overlapPolicy defaults to skip
    assert "maxConcurrentRuns" in _field_errors(refused)
    for bad in (0, -1, "two"):
        response = await api.call(
            "POST", JOBS, json=job_body(overlapPolicy="allow", maxConcurrentRuns=bad)
        )
        assert "maxConcurrentRuns" in _field_errors(response), bad
    job = await api.create_job(overlapPolicy="allow", maxConcurrentRuns=2)
    assert job["maxConcurrentRuns"] == 2
    path = f"{JOBS}/{job['id']}"
    back = await api.call("PATCH", path, json={"overlapPolicy": "queue"})
    assert "maxConcurrentRuns" in _field_errors(back)
    cleared = await api.call("PATCH", path, json={"maxConcurrentRuns": None})
    assert cleared.json()["maxConcurrentRuns"] is None
    assert (await api.call("PATCH", path, json={"overlapPolicy": "queue"})).status_code == 200


async def test_runs_go_to_the_pool_of_their_job_when_queued(api: Api) -> None:
    """A PATCH of the pool affects runs queued after it; a run queued before stays in
    the old pool's queue (its row keeps the old pool) and is run there."""
    await _offer(api, "gpu.render", "gpu", "default")
    queue = await api.bus.declare_pool("gpu")
    seen: list[str] = []

    async def take(delivery: Delivery) -> None:
        seen.append(delivery.routing_key)
        await delivery.ack()

    await api.bus.consume(queue, take, prefetch=10)
    await api.bus.consume("tickwork.runs", take, prefetch=10)
    job = await api.create_job(taskFunction="gpu.render", overlapPolicy="allow")
    before = (await api.call("POST", f"{JOBS}/{job['id']}/trigger")).json()["executionId"]
    moved = await api.call("PATCH", f"{JOBS}/{job['id']}", json={"pool": "gpu"})
    assert moved.status_code == 200, moved.text
    after = (await api.call("POST", f"{JOBS}/{job['id']}/trigger")).json()["executionId"]
    assert (await api.execution(before)).pool == "default"
    assert (await api.execution(after)).pool == "gpu"

    async def both_published() -> bool:
        return sorted(seen) == ["tickwork.runs", "tickwork.runs.gpu"]

    await wait_until(both_published, what="a run message in each queue")


async def test_executors_and_pools_from_the_database(api: Api) -> None:
    now = datetime.now(UTC)
    await _offer(api, "gpu.render", "gpu")
    job = await api.create_job(pool="gpu", taskFunction="gpu.render")
    old = now - timedelta(minutes=3)
    await api.add_run(job["id"], queued_at=old, scheduled_at=old)
    await api.add_run(job["id"], scheduled_at=now)
    async with api.sessions() as session, session.begin():
        for name, pools, seen_ago, slots, busy in (
            ("alive", ["default", "gpu"], 1, 8, 2),
            ("gone", ["gpu"], 120, 4, 4),
        ):
            session.add(
                executor_row(
                    name,
                    pools,
                    now=now,
                    seen_ago=seen_ago,
                    slots=slots,
                    busy=busy,
                    task_functions=("gpu.render",),
                )
            )
    executors = (await api.call("GET", "/api/v1/executors")).json()
    assert executors["total"] == 2
    first, second = executors["items"]
    assert (first["executorId"], first["isAlive"]) == ("alive", True)
    assert (second["executorId"], second["isAlive"]) == ("gone", False)
    assert set(first) == {
        "executorId",
        "hostName",
        "pools",
        "taskFunctions",
        "concurrency",
        "inFlight",
        "startedAt",
        "lastSeenAt",
        "isAlive",
    }
    pools = (await api.call("GET", "/api/v1/pools", params={"perPage": 1, "page": 2})).json()
    assert pools["total"] == 2
    (gpu,) = pools["items"]
    assert gpu["name"] == "gpu"
    assert (gpu["executors"], gpu["capacity"], gpu["inFlight"], gpu["queued"]) == (1, 8, 2, 2)
    assert gpu["oldestQueuedAt"].startswith(old.strftime("%Y-%m-%dT%H:%M"))
    async with api.sessions() as session:
        pools_of_rows = set(await session.scalars(select(JobExecution.pool)))
    assert pools_of_rows == {"gpu"}
    viewer = await api.call("GET", "/api/v1/pools", role=Role.VIEWER)
    assert viewer.status_code == 200
