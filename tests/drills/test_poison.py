"""Drill 7: poison and hostile messages on the bus, under load.

Run messages that can never run (not JSON, not an object, oversized, nested too deep, an
unknown schema version, missing or mistyped fields, an execution that does not exist or
that the message contradicts) and `job.trigger` commands that can never succeed (no such
job, a deleted job, malformed, both or neither target) are dead-lettered; a stale
duplicate of a finished run is dropped without running again; a good command still runs.
Every service keeps running and the load is audited as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from dataclasses import dataclass

import aio_pika
import orjson
import pytest
from tickwork_shared.bus.topology import (
    COMMANDS_DEAD_QUEUE,
    COMMANDS_EXCHANGE,
    RUNS_DEAD_QUEUE,
    RUNS_QUEUE,
    TRIGGER_ROUTING_KEY,
)
from tickwork_shared.db.models import JobExecution
from tickwork_shared.messages import MAX_MESSAGE_BYTES

from tests.drills.audit import Rules
from tests.drills.launch import open_drill
from tests.drills.ledger import read_ledger
from tests.drills.plugin import at_scales
from tests.harness.api_client import NEVER_DUE
from tests.harness.waiting import wait_until


@dataclass(frozen=True)
class Scale:
    jobs: int
    rounds: int
    """How many times the whole set of hostile messages is sent."""


def _run(**fields: object) -> bytes:
    return orjson.dumps({"schemaVersion": 1, **fields})


def poison_runs(job_id: int, execution_id: str, scheduled_at: str) -> dict[str, bytes]:
    """Run messages that must be dead-lettered, by name."""
    good = {"executionId": execution_id, "jobId": job_id, "scheduledAt": scheduled_at}
    unknown = {**good, "executionId": str(uuid.uuid4())}
    return {
        "not JSON": b"run job 1 please",
        "empty": b"",
        "invalid UTF-8": b"\xff\xfe\xfd",
        "a JSON array": b"[1, 2, 3]",
        "a JSON string": b'"tickwork"',
        "oversized": _run(**good, attempt=1, pad="x" * (MAX_MESSAGE_BYTES + 1)),
        "nested too deep": b"[" * 5_000 + b"]" * 5_000,
        "schema version 2": orjson.dumps({"schemaVersion": 2, **good, "attempt": 1}),
        "no schema version": orjson.dumps({**good, "attempt": 1}),
        "missing fields": _run(),
        "mistyped fields": _run(executionId=7, jobId="seven", scheduledAt="soon", attempt=0),
        "unknown execution": _run(**unknown, attempt=1),
        "contradicting its execution": _run(**{**good, "jobId": job_id + 1000}, attempt=1),
        "wrong attempt": _run(**good, attempt=5),
    }


def poison_commands(deleted_job_id: int) -> dict[str, bytes]:
    """`job.trigger` commands that must be dead-lettered, by name."""
    return {
        "no such job id": orjson.dumps({"jobId": 987_654_321}),
        "no such job name": orjson.dumps({"jobName": f"nobody-{uuid.uuid4().hex}"}),
        "a deleted job": orjson.dumps({"jobId": deleted_job_id}),
        "not JSON": b"trigger everything",
        "neither target": orjson.dumps({"idempotencyKey": "k"}),
        "both targets": orjson.dumps({"jobId": deleted_job_id, "jobName": "x"}),
        "mistyped id": orjson.dumps({"jobId": "1; DROP TABLE scheduled_jobs"}),
        "oversized name": orjson.dumps({"jobName": "x" * 100_000}),
        "invalid UTF-8": b"\xff\xfe\xfd",
    }


async def _dead_bodies(channel: aio_pika.abc.AbstractChannel, name: str, count: int) -> list[bytes]:
    """The bodies in a dead-letter queue (taken off it: the drill is over)."""
    queue = await channel.declare_queue(name, passive=True)
    bodies = []
    for _ in range(count):
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            break
        bodies.append(message.body)
    return bodies


async def _queue_depth(channel: aio_pika.abc.AbstractChannel, name: str) -> int:
    queue = await channel.declare_queue(name, passive=True)
    count = queue.declaration_result.message_count
    return int(count or 0)


@at_scales(small=Scale(jobs=5, rounds=1), full=Scale(jobs=20, rounds=5))
async def test_poison_messages(request: pytest.FixtureRequest, scale: Scale) -> None:
    async with open_drill(request, "poison") as drill:
        job_ids = await drill.create_load(scale.jobs)
        await drill.wait_runs(scale.jobs, since=await drill.now())
        control = await drill.api.create_job(
            f"{drill.name}-control",
            taskFunction="tickwork.noop",
            schedule=NEVER_DUE,
        )
        gone = await drill.api.create_job(
            f"{drill.name}-deleted",
            taskFunction="tickwork.noop",
            schedule=NEVER_DUE,
        )
        await drill.api.ok("DELETE", f"/jobs/{gone['id']}", 204)
        done = (await drill.executions(JobExecution.status == "succeeded"))[0]
        runs = poison_runs(done.job_id, done.execution_id, done.scheduled_at.isoformat())
        commands = poison_commands(gone["id"])
        stale = _run(
            executionId=done.execution_id,
            jobId=done.job_id,
            scheduledAt=done.scheduled_at.isoformat(),
            attempt=done.attempt,
        )

        started_at = await drill.now()
        connection = await aio_pika.connect(drill.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            commands_exchange = await channel.get_exchange(COMMANDS_EXCHANGE)
            for _ in range(scale.rounds):
                for body in runs.values():
                    message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
                    await channel.default_exchange.publish(message, routing_key=RUNS_QUEUE)
                await channel.default_exchange.publish(
                    aio_pika.Message(stale), routing_key=RUNS_QUEUE
                )
                for body in commands.values():
                    await commands_exchange.publish(
                        aio_pika.Message(body), routing_key=TRIGGER_ROUTING_KEY
                    )
            good = orjson.dumps({"jobName": control["name"], "idempotencyKey": "drill-7"})
            await commands_exchange.publish(aio_pika.Message(good), routing_key=TRIGGER_ROUTING_KEY)

            want_runs, want_commands = len(runs) * scale.rounds, len(commands) * scale.rounds

            async def dead_lettered() -> tuple[int, int] | None:
                found = (
                    await _queue_depth(channel, RUNS_DEAD_QUEUE),
                    await _queue_depth(channel, COMMANDS_DEAD_QUEUE),
                )
                return found if found == (want_runs, want_commands) else None

            with contextlib.suppress(AssertionError):  # the counts are asserted below
                await wait_until(dead_lettered, timeout=60, what="the poison to be dead-lettered")
            dead_runs = await _queue_depth(channel, RUNS_DEAD_QUEUE)
            dead_commands = await _queue_depth(channel, COMMANDS_DEAD_QUEUE)
            dead = await _dead_bodies(channel, RUNS_DEAD_QUEUE, dead_runs)
        handled_in = (await drill.now() - started_at).total_seconds()
        await drill.api.wait_executions(control["id"], count=1, status="succeeded")
        await asyncio.sleep(5)  # the load goes on after the poison

        rules = Rules(until=await drill.now())
        report = await drill.settled_audit(rules, timeout=60, job_ids=job_ids)
        stale_starts = [s for s in read_ledger(drill.ledger) if s.execution_id == done.execution_id]
        drill.report(
            report,
            poison_run_messages=(want_runs, "messages"),
            poison_commands=(want_commands, "messages"),
            dead_lettered_runs=(dead_runs, "messages"),
            dead_lettered_commands=(dead_commands, "messages"),
            handled_seconds=(round(handled_in, 1), "s"),
        )
        drill.assert_clean(report)
        sent = Counter(name for name in runs for _ in range(scale.rounds))
        by_body = {body: name for name, body in runs.items()}
        got = Counter(by_body.get(body, f"other: {body[:80]!r}") for body in dead)
        assert got == sent, f"run messages dead-lettered: {got}; sent: {sent}"
        assert dead_commands == want_commands
        assert len(stale_starts) == 1, "a stale duplicate of a finished run did not run again"
        assert len(await drill.api.executions(control["id"])) == 1, "the good command ran once"
        assert all(proc.alive() for proc in drill.stack.procs), "no service died of poison"
