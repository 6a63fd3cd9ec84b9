"""What a user does with tickwork, driven only through REST and AMQP, in both setups."""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import aio_pika
import orjson

from tests.e2e.conftest import E2E_SECRET, Deployment
from tests.harness.api_client import NEVER_DUE, Api, unique_name
from tests.harness.waiting import wait_until


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _by_time(executions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(executions, key=lambda e: (e["scheduledAt"], e["attempt"]))


async def test_interval_job_fires_on_time(deployment: Deployment) -> None:
    api = deployment.api
    job = await api.create_job(unique_name("every-2s"), schedule={"kind": "interval", "seconds": 2})
    assert job["nextRunAt"] is not None
    runs = await api.wait_executions(job["id"], count=3, status="succeeded", timeout=30)
    await api.ok("POST", f"/jobs/{job['id']}/disable")

    times = [_at(e["scheduledAt"]) for e in _by_time(runs)]
    assert all(b - a == timedelta(seconds=2) for a, b in itertools.pairwise(times))
    for execution in runs:
        assert execution["trigger"] == "schedule"
        lag = _at(execution["startedAt"]) - _at(execution["scheduledAt"])
        assert timedelta(0) <= lag < timedelta(seconds=5), execution


async def test_cron_with_seconds_fires(deployment: Deployment) -> None:
    api = deployment.api
    job = await api.create_job(
        unique_name("cron-2s"),
        schedule={"kind": "cron", "expression": "*/2 * * * * *", "timezone": "UTC"},
    )
    runs = await api.wait_executions(job["id"], count=2, status="succeeded", timeout=30)
    await api.ok("DELETE", f"/jobs/{job['id']}", 204)
    assert all(_at(e["scheduledAt"]).second % 2 == 0 for e in runs)


async def test_date_job_runs_once(deployment: Deployment) -> None:
    api = deployment.api
    run_at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    job = await api.create_job(unique_name("once"), schedule={"kind": "date", "runAt": run_at})
    await api.wait_executions(job["id"], count=1, status="succeeded", timeout=30)
    await asyncio.sleep(2)  # a second run would have had time to appear
    assert len(await api.executions(job["id"])) == 1
    after = await api.ok("GET", f"/jobs/{job['id']}")
    assert after["nextRunAt"] is None


async def test_manual_trigger_runs_at_once(deployment: Deployment) -> None:
    api = deployment.api
    job = await api.create_job(unique_name("manual"), schedule=NEVER_DUE)
    accepted = await api.ok("POST", f"/jobs/{job['id']}/trigger", 202)
    assert accepted["jobId"] == job["id"]
    assert accepted["status"] == "queued"
    done = await api.wait_execution(accepted["executionId"], {"succeeded"})
    assert done["trigger"] == "manual"
    assert isinstance(done["triggeredById"], str)
    assert done["startedAt"] <= done["finishedAt"]
    assert done["durationMs"] is not None


async def test_failures_are_retried_then_fail(deployment: Deployment) -> None:
    api = deployment.api
    job = await api.create_job(
        unique_name("fails"),
        taskFunction="tickwork.fail",
        args={"message": "boom"},
        schedule=NEVER_DUE,
        maxRetries=2,
        retryBackoffSeconds=1,
    )
    await api.ok("POST", f"/jobs/{job['id']}/trigger", 202)
    runs = _by_time(await api.wait_executions(job["id"], count=3, status="failed", timeout=40))
    assert [e["attempt"] for e in runs] == [1, 2, 3]
    assert [e["trigger"] for e in runs] == ["manual", "retry", "retry"]
    assert len({e["scheduledAt"] for e in runs}) == 1
    assert all("boom" in (e["error"] or "") for e in runs)
    await asyncio.sleep(2)  # no fourth attempt beyond maxRetries
    assert len(await api.executions(job["id"])) == 3


async def _sleep_triggered(api: Api, name: str, seconds: float, **fields: Any) -> str:
    """A run, triggered by hand, of a never-due job that sleeps `seconds`: its id."""
    job = await api.create_job(
        unique_name(name),
        taskFunction="tickwork.sleep",
        args={"seconds": seconds},
        schedule=NEVER_DUE,
        **fields,
    )
    accepted = await api.ok("POST", f"/jobs/{job['id']}/trigger", 202)
    execution_id: str = accepted["executionId"]
    return execution_id


async def test_timeout_ends_timed_out(deployment: Deployment) -> None:
    api = deployment.api
    execution_id = await _sleep_triggered(api, "slow", 30, timeoutSeconds=1)
    done = await api.wait_execution(execution_id, {"timed_out", "failed"})
    assert done["status"] == "timed_out"


async def test_cancel_a_running_execution(deployment: Deployment) -> None:
    api = deployment.api
    execution_id = await _sleep_triggered(api, "cancel-me", 60)
    await api.wait_execution(execution_id, {"running"})
    await api.ok("POST", f"/executions/{execution_id}/cancel", 202)
    done = await api.wait_execution(execution_id, {"cancelled", "failed", "succeeded"})
    assert done["status"] == "cancelled"
    again = await api.call("POST", f"/executions/{execution_id}/cancel")
    assert again.status_code == 409


async def test_overlapping_runs_of_a_skip_job_are_skipped(deployment: Deployment) -> None:
    api = deployment.api
    job = await api.create_job(
        unique_name("overlap"),
        taskFunction="tickwork.sleep",
        args={"seconds": 2.5},
        overlapPolicy="skip",
        schedule={"kind": "interval", "seconds": 1},
    )
    await api.wait_executions(job["id"], count=2, status="skipped", timeout=30)
    refused = await api.call("POST", f"/jobs/{job['id']}/trigger")
    await api.ok("POST", f"/jobs/{job['id']}/disable")
    assert refused.status_code in (202, 400)  # 400 while a run is queued or running
    if refused.status_code == 400:
        assert "Job already has a running execution" in refused.text

    async def settled() -> list[dict[str, Any]]:
        runs = await api.executions(job["id"])
        return runs if all(e["status"] not in ("queued", "running") for e in runs) else []

    runs = await wait_until(settled, timeout=30, what="the overlap job's runs to settle")
    skipped = [e for e in runs if e["status"] == "skipped"]
    assert {e["reason"] for e in skipped} <= {"overlap", "disabled"}
    assert any(e["reason"] == "overlap" for e in skipped)
    ran = sorted(
        (_at(e["startedAt"]), _at(e["finishedAt"]))
        for e in runs
        if e["startedAt"] and e["finishedAt"]
    )
    assert ran, "at least one run ran"
    for (_, first_end), (second_start, _) in itertools.pairwise(ran):
        assert second_start >= first_end, "runs of a skip job never overlap"


async def test_disable_and_delete_stop_firing(deployment: Deployment) -> None:
    api = deployment.api
    job = await api.create_job(unique_name("pausable"), schedule={"kind": "interval", "seconds": 1})
    await api.wait_executions(job["id"], count=2, status="succeeded", timeout=30)

    disabled = await api.ok("POST", f"/jobs/{job['id']}/disable")
    assert disabled["isEnabled"] is False
    assert disabled["version"] > job["version"]
    paused_at = datetime.now(UTC)
    await asyncio.sleep(3)
    late = [
        e
        for e in await api.executions(job["id"])
        if _at(e["scheduledAt"]) > paused_at and e["status"] != "skipped"
    ]
    assert late == [], "nothing due after the disable call runs"

    enabled = await api.ok("POST", f"/jobs/{job['id']}/enable")
    assert enabled["isEnabled"] is True
    resumed_at = datetime.now(UTC)

    async def resumed() -> bool:
        runs = await api.executions(job["id"], status="succeeded")
        return any(_at(e["scheduledAt"]) >= resumed_at - timedelta(seconds=1) for e in runs)

    await wait_until(resumed, timeout=30, what="runs after re-enabling")
    paused = [
        e
        for e in await api.executions(job["id"])
        if paused_at < _at(e["scheduledAt"]) < resumed_at - timedelta(seconds=1)
    ]
    assert paused == [], "a paused period is not a misfire: nothing is caught up"

    await api.ok("DELETE", f"/jobs/{job['id']}", 204)
    deleted_at = datetime.now(UTC)
    assert (await api.call("GET", f"/jobs/{job['id']}")).status_code == 404
    await asyncio.sleep(3)
    history = await api.executions(job["id"])
    assert history, "a deleted job's runs stay listed"
    assert not [
        e for e in history if _at(e["scheduledAt"]) > deleted_at and e["status"] != "skipped"
    ]


async def test_next_runs_preview_across_dst(deployment: Deployment) -> None:
    api = deployment.api
    job = await api.create_job(
        unique_name("dst"),
        isEnabled=False,
        schedule={"kind": "cron", "expression": "30 2 * 3,10 0", "timezone": "Europe/Berlin"},
    )
    preview = await api.ok("GET", f"/jobs/{job['id']}/next-runs", params={"count": 12})
    local = [item["localTime"] for item in preview["items"]]
    at = [item["at"] for item in preview["items"]]
    # 2027-03-28: 02:30 does not exist in Berlin and fires shifted by the gap.
    assert "2027-03-28T03:30:00+02:00" in local
    assert at[local.index("2027-03-28T03:30:00+02:00")] == "2027-03-28T01:30:00Z"
    # 2027-10-31: 02:30 happens twice; a fixed-hour expression fires once, the first time.
    assert "2027-10-31T02:30:00+02:00" in local
    assert "2027-10-31T02:30:00+01:00" not in local


async def test_trigger_by_amqp_message_is_idempotent(deployment: Deployment) -> None:
    amqp_url = deployment.require_amqp()
    api = deployment.api
    name = unique_name("by-message")
    job = await api.create_job(name, schedule=NEVER_DUE)
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("tickwork.commands")
        body = orjson.dumps({"jobName": name, "idempotencyKey": "nightly-2026-11-28"})
        for _ in range(2):
            await exchange.publish(aio_pika.Message(body), routing_key="job.trigger")
    runs = await api.wait_executions(job["id"], count=1, status="succeeded", timeout=30)
    await asyncio.sleep(2)  # the duplicate command has been handled by now
    runs = await api.executions(job["id"])
    assert len(runs) == 1
    assert runs[0]["trigger"] == "message"


async def test_events_reach_a_plain_amqp_consumer(deployment: Deployment) -> None:
    amqp_url = deployment.require_amqp()
    api = deployment.api
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind("tickwork.events", routing_key="#")
        job = await api.create_job(unique_name("evented"), schedule=NEVER_DUE)
        accepted = await api.ok("POST", f"/jobs/{job['id']}/trigger", 202)
        seen: dict[str, dict[str, Any]] = {}

        async def collect() -> bool:
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                event = orjson.loads(message.body)
                if event.get("id") == job["id"] or event.get("jobId") == job["id"]:
                    # At least once: every event names itself, in the body and the header.
                    assert message.message_id == event["eventId"]
                    seen[message.routing_key or ""] = event
            return {"job.created", "execution.succeeded"} <= set(seen)

        await wait_until(collect, timeout=30, what="job.created and execution.succeeded events")
    finished = seen["execution.succeeded"]
    assert finished["executionId"] == accepted["executionId"]
    assert finished["event"] == "execution.succeeded"
    assert finished["occurredAt"].endswith("Z")
    assert seen["job.created"]["name"] == job["name"]


class _Hook(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.seen.append(dict(self.headers))
        body = orjson.dumps({"echo": self.headers.get("Authorization", "")})
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


async def test_a_secret_file_is_resolved_by_the_executor_only(deployment: Deployment) -> None:
    api = deployment.api
    _Hook.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        args = {
            "url": url,
            "method": "POST",
            "headers": {"Authorization": {"$secret": "hook-token"}},
        }
        job = await api.create_job(
            unique_name("secret"),
            taskFunction="http.request",
            args=args,
            schedule=NEVER_DUE,
        )
        assert job["args"] == args  # stored and shown as the reference
        accepted = await api.ok("POST", f"/jobs/{job['id']}/trigger", 202)
        done = await api.wait_execution(accepted["executionId"], {"succeeded", "failed"})
        assert done["status"] == "succeeded", done
    finally:
        server.shutdown()
        server.server_close()
    [request] = _Hook.seen
    assert request["Authorization"] == f"Bearer {E2E_SECRET}"
    # The server echoed it: the recorded result masks the value.
    assert E2E_SECRET not in orjson.dumps(done).decode()
    assert done["result"]["body"] == {"echo": "***"}
    logs = deployment.stack.logs(tail_lines=100_000)
    assert E2E_SECRET not in logs

    missing = await api.create_job(
        unique_name("no-secret"),
        taskFunction="http.request",
        args={"url": url, "headers": {"X-Token": {"$secret": "not-there"}}},
        schedule=NEVER_DUE,
    )
    accepted = await api.ok("POST", f"/jobs/{missing['id']}/trigger", 202)
    failed = await api.wait_execution(accepted["executionId"], {"failed"})
    assert failed["error"].startswith("SecretMissing: secret 'not-there' not found")


async def test_a_self_triggering_job_is_stopped_by_disable(deployment: Deployment) -> None:
    # `amqp.publish` to tickwork.commands is allowed in these deployments
    # (TICKWORK_AMQP_PUBLISH_ALLOW); refused by default.
    api = deployment.api
    name = unique_name("self-trigger")
    job = await api.create_job(
        name,
        taskFunction="amqp.publish",
        args={
            "exchange": "tickwork.commands",
            "routingKey": "job.trigger",
            "body": {"jobName": name},
        },
        schedule=NEVER_DUE,
        overlapPolicy="allow",
    )
    await api.ok("POST", f"/jobs/{job['id']}/trigger", 202)
    await api.wait_executions(job["id"], count=5, status="succeeded", timeout=30)
    await api.ok("POST", f"/jobs/{job['id']}/disable")

    async def total() -> int:
        page = await api.ok("GET", "/executions", params={"jobId": job["id"], "perPage": 1})
        return int(page["total"])

    async def settled() -> int | None:
        # Stable for 2 s: whatever was in flight at the disable has been handled.
        before = await total()
        await asyncio.sleep(2)
        after = await total()
        return after if after == before else None

    count = await wait_until(settled, timeout=30, what="the loop to stop after disable")
    await asyncio.sleep(3)
    assert await total() == count
