"""Inbound `job.trigger` commands (API.md, AMQP): run a job now, by id or by name.

A command becomes one `queued` row (trigger `message`) whose fire key is the command's
idempotency key, so the same key twice makes one run: the second insert breaks the unique
key (job, fire key, attempt) and is a no-op. Without a key, the AMQP message id stands in
(so a redelivery of a command whose ack was lost is absorbed too); without either, every
command runs. The delivery is acked after commit. A malformed body or a job that does not
exist (or was deleted) can never succeed: logged and rejected (dead-lettered), never
retried. So is a command for a disabled job (a job that triggers itself through
`amqp.publish` stops when disabled) and one for a job that already has
`TICKWORK_MAX_QUEUED_RUNS_PER_JOB` queued runs (the reason is in the warning logged).
A command for a job with a run in progress is still written: the executor's claim
applies the overlap policy and records `skipped`/`overlap`, so the command leaves a record.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from pydantic import ValidationError
from sqlalchemy import select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.bus.abc import Delivery
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJob
from tickwork_shared.db.retry import is_transient, run_in_transaction
from tickwork_shared.enums import Trigger
from tickwork_shared.events import add_events, execution_events
from tickwork_shared.messages import TriggerCommand
from tickwork_shared.resilience import Stopped, retry_while_transient
from tickwork_shared.run_limits import queue_refusal, queued_runs
from tickwork_shared.runs import command_fire_key, new_run
from tickwork_shared.telemetry import context_from_headers, tracer

from tickwork_planner.errors import CommandRejected
from tickwork_planner.stats import PlannerStats

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Triggered:
    """The outcome of one command: the new row, or None when it was a duplicate."""

    job_id: int | None
    row: JobExecution | None


def parse_command(body: bytes) -> TriggerCommand:
    """The command in `body`; `CommandRejected` if it is not a valid `job.trigger`."""
    try:
        return TriggerCommand.model_validate_json(body)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()
        )
        raise CommandRejected(f"malformed job.trigger command: {problems}") from None


def dedupe_key(command: TriggerCommand, message_id: str | None) -> str | None:
    """The idempotency key of a command: its own, else one derived from the message id."""
    if command.idempotency_key:
        return command.idempotency_key
    if message_id:
        return "message-id:" + hashlib.sha256(message_id.encode()).hexdigest()[:40]
    return None


def _target(command: TriggerCommand) -> str:
    return f"job {command.job_id}" if command.job_id is not None else f"job {command.job_name!r}"


async def trigger_job(
    sessions: SessionFactory,
    command: TriggerCommand,
    *,
    key: str | None,
    claim: str,
    relay_delay: timedelta,
    max_queued: int = 100,
) -> Triggered:
    """Write the command's run in one transaction.

    Raises `CommandRejected` when no active job matches, when the job is disabled and
    when it already has `max_queued` queued runs. The row carries `claim`: the
    caller publishes it after commit.
    """
    fire_key = command_fire_key(key)

    async def work(session: AsyncSession) -> Triggered:
        query = select(ScheduledJob).where(ScheduledJob.is_active == true())
        if command.job_id is not None:
            query = query.where(ScheduledJob.id == command.job_id)
        else:
            query = query.where(ScheduledJob.active_name == command.job_name)
        # Locked: a concurrent delete or disable (which skips queued runs) either sees
        # this row or happens before we look, and commands for one job (and REST
        # triggers, which lock it too) count its queued runs one after the other, so
        # the limit holds exactly.
        job = await session.scalar(query.with_for_update())
        if job is None:
            raise CommandRejected(f"job.trigger for {_target(command)}: no such active job")
        if not job.is_enabled:
            raise CommandRejected(
                f"job.trigger for {_target(command)}: job {job.id} is disabled "
                "(commands do not run a disabled job; REST may)"
            )
        if key is not None:
            existing = await session.scalar(
                select(JobExecution.id).where(
                    JobExecution.job_id == job.id,
                    JobExecution.fire_key == fire_key,
                    JobExecution.attempt == 1,
                )
            )
            if existing is not None:
                return Triggered(job.id, None)
        refusal = queue_refusal(job.id, await queued_runs(session, job.id), max_queued)
        if refusal is not None:
            raise CommandRejected(f"job.trigger for {_target(command)}: {refusal}")
        now = await db_now(session)
        row = new_run(
            job,
            fire_key=fire_key,
            scheduled_at=now,
            trigger=Trigger.MESSAGE,
            now=now,
            publish_claim=claim,
            relay_delay=relay_delay,
        )
        session.add(row)
        await session.flush()
        await add_events(session, execution_events([row], now))
        return Triggered(job.id, row)

    try:
        return await run_in_transaction(sessions, work, what="job.trigger command")
    except IntegrityError:
        if key is None:
            raise
        # Another planner wrote the same key between our check and our insert.
        return Triggered(command.job_id, None)


class TriggerConsumer:
    """The handler of `TRIGGER_QUEUE` deliveries (a `Bus.consume` handler).

    While the database is unreachable a command waits in its handler, retried with
    back-off, neither acked nor dead-lettered; when the planner stops, the delivery is
    left unsettled and the broker hands it to another planner.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        claim: str,
        relay_delay: timedelta,
        stats: PlannerStats,
        on_written: Callable[[JobExecution], None],
        stopping: asyncio.Event,
        max_queued: int = 100,
    ) -> None:
        self._sessions = sessions
        self._max_queued = max_queued
        self._claim = claim
        self._relay_delay = relay_delay
        self._stats = stats
        self._on_written = on_written
        self._stopping = stopping
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __call__(self, delivery: Delivery) -> None:
        self.in_flight += 1
        self._idle.clear()
        try:
            await self._handle(delivery)
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no delivery is being handled."""
        await self._idle.wait()

    async def _handle(self, delivery: Delivery) -> None:
        # The sender's trace continues here and, through the run message, in the executor.
        parent = context_from_headers(delivery.headers)
        with tracer().start_as_current_span("planner.job_trigger", context=parent):
            await self._handle_in_span(delivery)

    async def _handle_in_span(self, delivery: Delivery) -> None:
        try:
            command = parse_command(delivery.body)
            key = dedupe_key(command, delivery.message_id)
            outcome = await self._write(command, key)
        except CommandRejected as error:
            self._stats.record_command("rejected")
            logger.warning("%s; dead-lettered", error, extra={"action": "command_rejected"})
            await delivery.reject()
            return
        if outcome is None:  # stopping while the database was away: leave it queued
            return
        await delivery.ack()
        if outcome.row is None:
            self._stats.record_command("duplicate")
            logger.info(
                "job.trigger for %s repeated an idempotency key; no new run",
                _target(command),
                extra={"action": "command_duplicate", "job_id": outcome.job_id},
            )
            return
        self._stats.record_command("accepted")
        logger.info(
            "job.trigger queued a run of job %s",
            outcome.job_id,
            extra={
                "action": "command_run_queued",
                "job_id": outcome.job_id,
                "execution_id": outcome.row.execution_id,
            },
        )
        self._on_written(outcome.row)

    async def _write(self, command: TriggerCommand, key: str | None) -> Triggered | None:
        """The command's outcome, waiting for the database while it is away (`RECOVERY`
        back-off); None if the planner stops first."""

        async def write() -> Triggered:
            return await trigger_job(
                self._sessions,
                command,
                key=key,
                claim=self._claim,
                relay_delay=self._relay_delay,
                max_queued=self._max_queued,
            )

        def on_retry(failures: int, error: BaseException, _delay: float) -> None:
            logger.warning(
                "job.trigger waits for the database (%s)",
                type(error).__name__,
                extra={"action": "command_deferred", "attempt": failures},
            )

        # A non-transient error (a bug, a poison message) propagates: the bus logs and
        # dead-letters it.
        try:
            return await retry_while_transient(
                write, is_transient=is_transient, stop=self._stopping, on_retry=on_retry
            )
        except Stopped:
            return None
