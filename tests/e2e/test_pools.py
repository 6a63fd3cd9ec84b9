"""Executor pools with real processes: a run goes only to executors of its job's pool.

One stack (MariaDB, RabbitMQ, api, planner) and executors of three kinds:
`default` (built-ins only), `special` (built-ins plus `tests.e2e.pool_tasks`, two of
them), and `later` (started only when a test needs it). Before pools, every executor
consumed the one run queue, so an executor without `special.work` took about half of
its runs and failed them `unavailable`.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.pool_tasks import LEDGER_ENV
from tests.fixtures.amqp import purge_topology_queues
from tests.fixtures.database import empty_database
from tests.harness.api_client import NEVER_DUE, Api, unique_name, wait_ready
from tests.harness.processes import ROOT, Proc, Stack, free_port, services_env
from tests.harness.waiting import wait_until

pytestmark = pytest.mark.timeout(600)

SETTINGS = {
    "TICKWORK_LEASE_SECONDS": "4",
    "TICKWORK_HEARTBEAT_SECONDS": "1",
    "TICKWORK_EXECUTOR_HEARTBEAT_SECONDS": "1",
    "TICKWORK_EXECUTOR_DEAD_AFTER_SECONDS": "3",
    "TICKWORK_RELAY_DELAY_SECONDS": "2",
    "TICKWORK_REAPER_INTERVAL_SECONDS": "1",
    "TICKWORK_SHUTDOWN_GRACE_SECONDS": "5",
    "TICKWORK_OVERLAP_REQUEUE_SECONDS": "0.5",
    "TICKWORK_EXECUTOR_CONCURRENCY": "8",
    "TICKWORK_LOG_FORMAT": "json",
}
SPECIAL = {"TICKWORK_EXECUTOR_POOLS": "special", "TICKWORK_TASK_MODULES": "tests.e2e.pool_tasks"}
LATER = {"TICKWORK_EXECUTOR_POOLS": "later"}
"""A schedule that never fires during the tests: their runs are triggered."""


@dataclass
class Pools:
    api: Api
    stack: Stack
    default: Proc
    special: list[Proc]
    ledger: Path

    def executor_id(self, proc: Proc) -> str:
        return f"{socket.gethostname()}:{proc.pid}"

    async def start_executor(self, name: str, env: dict[str, str]) -> Proc:
        proc = self.stack.start(name, "executor", env=env)
        wanted = self.executor_id(proc)

        async def registered() -> bool:
            return any(e["executorId"] == wanted for e in await self.executors())

        await wait_until(registered, timeout=60, what=f"{name} to register")
        return proc

    async def executors(self) -> list[dict[str, Any]]:
        page = await self.api.ok("GET", "/executors", params={"perPage": 100})
        items: list[dict[str, Any]] = page["items"]
        return items

    async def pool(self, name: str) -> dict[str, Any] | None:
        page = await self.api.ok("GET", "/pools", params={"perPage": 100})
        return next((p for p in page["items"] if p["name"] == name), None)


@pytest.fixture(scope="module")
async def pools(
    tmp_path_factory: pytest.TempPathFactory, mariadb_server_url: str, amqp_url: str
) -> AsyncIterator[Pools]:
    workdir: Path = tmp_path_factory.mktemp("e2e-pools")
    async with empty_database(mariadb_server_url, "e2e_pools") as database_url:
        await purge_topology_queues(amqp_url)
        port = free_port()
        stack = Stack(
            env={
                **SETTINGS,
                **services_env(database_url, amqp_url, port),
                LEDGER_ENV: str(workdir / "ledger.txt"),
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
                ),
            },
            workdir=workdir,
        )
        async with stack.running_async():
            await asyncio.to_thread(stack.run, "migrate")
            key = await asyncio.to_thread(stack.create_key, "e2e")
            api = Api(f"http://127.0.0.1:{port}", key)
            try:
                stack.start("api", "api")
                stack.start("planner", "planner")
                await wait_ready(api.base_url)
                harness = Pools(
                    api, stack, default=stack.procs[0], special=[], ledger=workdir / "ledger.txt"
                )
                harness.default = await harness.start_executor("executor-default", {})
                for index in (1, 2):
                    harness.special.append(
                        await harness.start_executor(f"executor-special-{index}", SPECIAL)
                    )
                yield harness
            finally:
                await api.close()


async def _special_job(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    """A job of the special pool's task that runs only when triggered, its runs allowed
    to overlap."""
    return await api.create_job(
        unique_name(name),
        taskFunction="special.work",
        pool="special",
        overlapPolicy="allow",
        schedule=NEVER_DUE,
        **fields,
    )


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _trigger(api: Api, job_id: int, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        accepted = await api.ok("POST", f"/jobs/{job_id}/trigger", 202)
        ids.append(accepted["executionId"])
    return ids


async def _all_finished(api: Api, job_id: int, count: int, timeout: float = 120) -> list[Any]:
    async def finished() -> list[dict[str, Any]]:
        page = await api.ok("GET", "/executions", params={"jobId": job_id, "perPage": 100})
        items: list[dict[str, Any]] = page["items"]
        done = [e for e in items if e["status"] not in ("queued", "running")]
        return items if len(done) >= count and len(done) == len(items) else []

    return await wait_until(finished, timeout=timeout, what=f"{count} runs of job {job_id} to end")


async def test_every_run_lands_on_an_executor_of_its_pool(pools: Pools) -> None:
    api = pools.api
    special = await _special_job(api, "special")
    plain = await api.create_job(
        unique_name("plain"),
        overlapPolicy="allow",
        schedule=NEVER_DUE,
    )
    assert (special["pool"], plain["pool"]) == ("special", "default")
    await _trigger(api, special["id"], 100)
    await _trigger(api, plain["id"], 100)
    special_runs = await _all_finished(api, special["id"], 100)
    plain_runs = await _all_finished(api, plain["id"], 100)

    special_ids = {pools.executor_id(p) for p in pools.special}
    default_id = pools.executor_id(pools.default)
    assert [e for e in special_runs + plain_runs if e["status"] != "succeeded"] == []
    assert {e["executorId"] for e in special_runs} <= special_ids
    assert {e["executorId"] for e in plain_runs} == {default_id}
    functions = await api.ok("GET", "/task-functions", params={"perPage": 100})
    offered = {f["name"]: f["pools"] for f in functions["items"]}
    assert offered["special.work"] == ["special"]
    assert offered["tickwork.noop"] == ["default", "special"]


async def test_create_in_a_pool_that_cannot_run_the_function_is_refused(pools: Pools) -> None:
    refused = await pools.api.call(
        "POST",
        "/jobs",
        json={
            "name": unique_name("nowhere"),
            "taskFunction": "special.work",
            "schedule": {"kind": "interval", "seconds": 60},
        },
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["taskFunction"]


async def test_a_pool_without_executor_keeps_its_runs_queued(pools: Pools) -> None:
    """Its runs wait `queued`; once an executor of the pool comes, manual runs run and
    scheduled runs late past their grace follow the misfire policy (`skip`)."""
    api = pools.api
    later = await pools.start_executor("executor-later", LATER)  # registers the pool
    await asyncio.to_thread(pools.stack.stop, later)

    async def shown_dead() -> bool:
        gone = [e for e in await pools.executors() if e["executorId"] == pools.executor_id(later)]
        return bool(gone) and not gone[0]["isAlive"]

    await wait_until(shown_dead, timeout=30, what="the stopped executor shown dead")
    job = await api.create_job(
        unique_name("later"),
        pool="later",
        overlapPolicy="allow",
        misfirePolicy="skip",
        misfireGraceSeconds=1,
        schedule={"kind": "interval", "seconds": 1},
    )
    manual = await _trigger(api, job["id"], 3)
    await asyncio.sleep(4)  # scheduled fire times pile up, later than their grace
    # No more fire times (disabling would skip the queued runs): the schedule moves out.
    await api.ok("PATCH", f"/jobs/{job['id']}", json={"schedule": NEVER_DUE})
    # The last fire time before the PATCH is past its 1 s grace before an executor can
    # come: an executor that starts fast would otherwise run it legitimately on time.
    await asyncio.sleep(2)
    waiting = await api.executions(job["id"])
    assert len(waiting) > 3
    assert {e["status"] for e in waiting if e["trigger"] == "manual"} == {"queued"}
    assert {e["status"] for e in waiting} <= {"queued", "skipped"}
    pool = await pools.pool("later")
    assert pool is not None
    assert pool["executors"] == 0
    assert pool["queued"] >= 3
    assert pool["oldestQueuedAt"] is not None

    await pools.start_executor("executor-later-2", LATER)
    for execution_id in manual:
        done = await api.wait_execution(execution_id, {"succeeded", "failed", "skipped"}, 60)
        assert done["status"] == "succeeded", done
    scheduled = await _all_finished(api, job["id"], len(waiting), 60)
    late = [e for e in scheduled if e["trigger"] == "schedule"]
    assert late, "no scheduled run piled up"
    assert {(e["status"], e["reason"]) for e in late} == {("skipped", "misfire")}, late
    assert all(e["reason"] != "unavailable" for e in scheduled)


async def test_max_concurrent_runs_is_never_exceeded(pools: Pools) -> None:
    api = pools.api
    job = await _special_job(api, "limited", args={"seconds": 0.6}, maxConcurrentRuns=2)
    ids = set(await _trigger(api, job["id"], 20))
    runs = await _all_finished(api, job["id"], 20, timeout=180)
    assert [e["status"] for e in runs] == ["succeeded"] * 20
    # When the task bodies ran (one clock: the executors share the machine).
    spans = [
        (float(start), float(end))
        for execution_id, start, end in (
            line.split() for line in pools.ledger.read_text().splitlines()
        )
        if execution_id in ids
    ]
    assert len(spans) == 20
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, step in edges:  # an end at the same instant as a start counts first
        running += step
        peak = max(peak, running)
    assert peak == 2, f"peak {peak} runs at once"


async def test_killed_executor_is_shown_dead_and_its_runs_retried_in_its_pool(
    pools: Pools,
) -> None:
    api = pools.api
    victim, survivor = pools.special
    job = await _special_job(
        api, "reaped", args={"seconds": 3}, maxRetries=1, retryBackoffSeconds=0
    )
    await _trigger(api, job["id"], 6)
    victim_id = pools.executor_id(victim)

    async def victim_busy() -> bool:
        return any(
            e["executorId"] == victim_id for e in await api.executions(job["id"], status="running")
        )

    await wait_until(victim_busy, timeout=30, what="the victim to run something")
    await asyncio.to_thread(pools.stack.kill, victim)
    killed_at = datetime.now(UTC)

    async def shown_dead() -> dict[str, Any] | None:
        found = [e for e in await pools.executors() if e["executorId"] == victim_id]
        return found[0] if found and not found[0]["isAlive"] else None

    dead = await wait_until(shown_dead, timeout=30, what="the killed executor shown dead")
    assert _at(dead["lastSeenAt"]) <= killed_at + timedelta(seconds=1)

    async def retried() -> list[dict[str, Any]]:
        # Every run ended, and each one lost with the victim has its retry, ended too.
        runs = await _all_finished(api, job["id"], 6, timeout=120)
        lost = [e for e in runs if e["executorId"] == victim_id and e["status"] != "succeeded"]
        retries = [e for e in runs if e["trigger"] == "retry"]
        return runs if lost and len(retries) >= len(lost) else []

    runs = await wait_until(retried, timeout=120, what="the lost runs retried")
    lost = [e for e in runs if e["executorId"] == victim_id and e["status"] != "succeeded"]
    assert {(e["status"], e["reason"]) for e in lost} == {("failed", "executor lost")}
    retries = [e for e in runs if e["trigger"] == "retry"]
    assert len(retries) == len(lost)
    assert {(e["status"], e["executorId"]) for e in retries} == {
        ("succeeded", pools.executor_id(survivor))
    }
    assert (await pools.pool("special") or {}).get("executors") == 1
