"""One claimed run from start to record: the task, its lease, its interrupts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.retry import is_transient
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.resilience import retry_while_transient
from tickwork_shared.secret_store import SecretStore
from tickwork_shared.telemetry import tracer

from tickwork_executor import metrics
from tickwork_executor.batching import Batcher
from tickwork_executor.claim.claims import Claim
from tickwork_executor.faults import Fault, FaultPoint, reach
from tickwork_executor.lease import Lease, LeaseKeeper, extend_lease
from tickwork_executor.record.outcomes import Finish, Outcome, StopReason, decide_finish, error_text
from tickwork_executor.record.records import RecordRequest, give_up_lease
from tickwork_executor.run.runner import execute
from tickwork_executor.run.shield import uncut
from tickwork_executor.run_row import RunRow
from tickwork_executor.tasks import RunContext, TaskRegistry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunEnvironment:
    """What every run of one executor shares."""

    sessions: SessionFactory
    bus: Bus
    registry: TaskRegistry
    pool: ThreadPoolExecutor
    lease_seconds: float
    heartbeat_seconds: float
    max_result_bytes: int
    recorder: Batcher[RecordRequest, RunRow | None]
    """Records outcomes of several runs per transaction."""
    secrets: SecretStore | None = None
    """Where `{"$secret": NAME}` arguments are read from; None: the environment only."""
    fault: Fault | None = None
    """A test's or a drill's fault (`faults`); None in production."""


class RunSupervisor:
    """Runs one claimed task under its lease and records how it ended.

    `interrupt` stops the task for a reason (cancel requested, lease lost, shutdown);
    what is written then is `outcomes.decide_finish`'s answer. Sync tasks that outlive
    their run leave their thread futures in `threads`. `on_task_over` is called once the
    task is over, before its outcome is written.
    """

    def __init__(
        self,
        env: RunEnvironment,
        claim: Claim,
        *,
        acquired_at: float,
        trace_context: Context | None = None,
        on_task_over: Callable[[RunSupervisor], None] | None = None,
    ) -> None:
        row = claim.row
        assert row is not None
        assert row.lease_token is not None
        assert row.started_at is not None
        self._env = env
        self.row = row
        self._locked = claim.locked
        self._job_type = claim.job_type
        self._acquired_at = acquired_at
        self._trace_context = trace_context
        self.lease = Lease(row.execution_id, row.job_id, row.lease_token)
        self.threads: list[asyncio.Future[Any]] = []
        self.slot_released = False
        """Set by the consumer once it gave this run's slot back."""
        self._on_task_over = on_task_over
        self._stop: StopReason | None = None
        self._work: asyncio.Task[Outcome] | None = None
        self.log_fields = {"execution_id": row.execution_id, "job_id": row.job_id}

    def interrupt(self, reason: StopReason) -> None:
        """Stop the task for `reason`; the first reason wins, a finished task is left be."""
        if self._stop is not None or (self._work is not None and self._work.done()):
            return
        self._stop = reason
        if self._work is not None:
            self._work.cancel()

    async def run(self) -> None:
        """Run and record (its events are written with the record); the span is a child
        of `trace_context` (the claim's)."""
        with tracer().start_as_current_span(
            "tickwork.execute",
            context=self._trace_context,
            attributes={
                "tickwork.execution_id": self.row.execution_id,
                "tickwork.task_function": self.row.task_function,
            },
        ):
            await self._run()

    async def _run(self) -> None:
        env = self._env
        self._work = asyncio.create_task(self._execute())
        if self._stop is not None:
            self._work.cancel()
        keeper = LeaseKeeper(
            lambda: extend_lease(env.sessions, self.lease, env.lease_seconds),
            lease_seconds=env.lease_seconds,
            heartbeat_seconds=env.heartbeat_seconds,
            acquired_at=self._acquired_at,
            interrupt=self.interrupt,
            log_fields=self.log_fields,
        )
        cancelled = False
        async with keeper:
            while not self._work.done():
                try:
                    await asyncio.wait([self._work])
                except asyncio.CancelledError:
                    # Cancelled from outside (the loop is going down): stop the task and
                    # give the lease up rather than leave the run to wait for its lease
                    # to expire.
                    cancelled = True
                    self.interrupt(StopReason.SHUTDOWN)
        if self._on_task_over is not None:
            self._on_task_over(self)  # the task is over; its outcome is not written yet

        finish, outcome = decide_finish(self._stop, _outcome_of(self._work))
        recorded: RunRow | None = None
        if finish is Finish.RECORD:
            assert outcome is not None
            recorded = await self._record(outcome, keeper.expires)
        elif finish is Finish.GIVE_UP:
            await self._give_up()
        if recorded is not None:
            metrics.run_ended(recorded, self._job_type)
            await reach(self._env.fault, FaultPoint.AFTER_RECORD_COMMIT)
        if cancelled:
            raise asyncio.CancelledError

    async def _execute(self) -> Outcome:
        env, row = self._env, self.row
        spec = env.registry.get(row.task_function)
        if spec is None:  # the claim checked this; kept for safety
            message = f"TaskUnavailable: this executor does not offer {row.task_function!r}"
            return Outcome(ExecutionStatus.FAILED, error=message)
        context = RunContext(
            execution_id=row.execution_id,
            job_id=row.job_id,
            scheduled_at=row.scheduled_at,
            attempt=row.attempt,
            idempotency_key=row.idempotency_key,
        )
        logger.info(
            "running %s",
            spec.name,
            extra={"action": "run_started", "attempt": row.attempt, **self.log_fields},
        )
        return await execute(
            spec,
            row.args or {},
            context,
            timeout_seconds=row.timeout_seconds,
            pool=env.pool,
            max_result_bytes=env.max_result_bytes,
            threads=self.threads,
            secrets=env.secrets,
        )

    async def _record(self, outcome: Outcome, lease_expires: float) -> RunRow | None:
        """Record `outcome`, retrying transient failures while the lease surely holds."""
        assert self.row.started_at is not None
        request = RecordRequest(self.row, outcome, self._locked)

        def on_retry(_attempt: int, error: BaseException, _delay: float) -> None:
            logger.warning(
                "could not record the outcome yet: %r",
                error,
                extra={"action": "record_retry", **self.log_fields},
            )

        try:
            row = await retry_while_transient(
                lambda: uncut(self._env.recorder.enqueue(request)),
                is_transient=is_transient,
                worth_waiting=lambda delay: time.monotonic() + delay < lease_expires,
                on_retry=on_retry,
            )
        except Exception:
            logger.exception(
                "outcome not recorded; the reaper will retry the run once its lease expires",
                extra={"action": "record_failed", **self.log_fields},
            )
            return None
        if row is None:
            logger.warning(
                "lease lost before the outcome was recorded; nothing written",
                extra={"action": "lease_lost", **self.log_fields},
            )
            return None
        logger.info(
            "run %s",
            row.status,
            extra={
                "action": "run_finished",
                "status": row.status,
                "duration_ms": row.duration_ms,
                **self.log_fields,
            },
        )
        return row

    async def _give_up(self) -> None:
        try:
            held = await uncut(give_up_lease(self._env.sessions, self.lease, locked=self._locked))
        except Exception:
            logger.exception(
                "could not give the lease up; the reaper will retry the run once it expires",
                extra={"action": "lease_give_up_failed", **self.log_fields},
            )
            return
        logger.warning(
            "gave the lease up; the reaper will retry the run" if held else "lease already lost",
            extra={"action": "lease_given_up", **self.log_fields},
        )


def _outcome_of(work: asyncio.Task[Outcome]) -> Outcome | None:
    """The task's outcome; None if it was interrupted. `execute` raises nothing else, but
    an escaped exception must still end the run as `failed`, not leave it `running`."""
    if work.cancelled():
        return None
    error = work.exception()
    if error is not None:
        return Outcome(ExecutionStatus.FAILED, error=error_text(error))
    return work.result()
