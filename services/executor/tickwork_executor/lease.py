"""The lease of a running task: a heartbeat that extends it and listens for cancellation.

Every heartbeat extends `lease_expires_at` (and the job lock's `expires_at`) on the
database clock, fenced by the lease token, and reads `cancel_requested_at`. A fenced
update that matches nothing means the lease is lost (the reaper declared this executor
dead and the run may be running elsewhere): the task is stopped and nothing more is
written. If the database cannot be reached until the lease would have run out, the
lease counts as lost too, measured on this process's monotonic clock from the moment
the last successful extension was sent, which is never later than the database's view.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Update, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now_expr
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution, ScheduledJobLock
from tickwork_shared.db.retry import is_transient, run_in_transaction
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.lifecycle import Component
from tickwork_shared.resilience import sleep_unless_stopped

from tickwork_executor.record.outcomes import StopReason
from tickwork_executor.run.shield import uncut

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeaseState:
    held: bool
    cancel_requested: bool = False


@dataclass(frozen=True)
class Lease:
    """Identifies one claimed run for the fenced writes."""

    execution_id: str
    job_id: int
    token: str

    def fenced(self) -> Update:
        """An UPDATE of the run's row that changes it only while this lease holds it."""
        return (
            update(JobExecution)
            .where(
                JobExecution.execution_id == self.execution_id,
                JobExecution.lease_token == self.token,
                JobExecution.status == ExecutionStatus.RUNNING.value,
            )
            .execution_options(synchronize_session=False)
        )


async def extend_lease(sessions: SessionFactory, lease: Lease, seconds: float) -> LeaseState:
    """Push the lease (and the job lock, if held) to db_now + `seconds`; read the cancel flag."""

    async def work(session: AsyncSession) -> LeaseState:
        result = await session.execute(
            lease.fenced().values(lease_expires_at=db_now_expr(session, plus_seconds=seconds))
        )
        if cast(CursorResult[Any], result).rowcount != 1:
            return LeaseState(held=False)
        await session.execute(
            update(ScheduledJobLock)
            .where(
                ScheduledJobLock.job_id == lease.job_id,
                ScheduledJobLock.execution_id == lease.execution_id,
            )
            .values(expires_at=db_now_expr(session, plus_seconds=seconds))
        )
        cancel = await session.scalar(
            select(JobExecution.cancel_requested_at).where(
                JobExecution.execution_id == lease.execution_id
            )
        )
        return LeaseState(held=True, cancel_requested=cancel is not None)

    return await run_in_transaction(sessions, work, what="lease heartbeat")


class LeaseKeeper(Component):
    """Runs the heartbeat of one task (`async with keeper:`, or `start` and `close`);
    calls `interrupt` when the task must end.

    `extend` performs one heartbeat; `acquired_at` is the monotonic time at which the
    claim that granted the lease was sent.
    """

    def __init__(
        self,
        extend: Callable[[], Awaitable[LeaseState]],
        *,
        lease_seconds: float,
        heartbeat_seconds: float,
        acquired_at: float,
        interrupt: Callable[[StopReason], None],
        log_fields: dict[str, Any],
    ) -> None:
        self._extend = extend
        self._lease = lease_seconds
        self._heartbeat = heartbeat_seconds
        self._expires = acquired_at + lease_seconds
        self._interrupt = interrupt
        self._log_fields = log_fields
        self._stopped = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Beat in the background from the first heartbeat on (`close` ends it).

        Until then only a timer exists: most runs end before their first heartbeat, and a
        timer costs far less than a task waiting on an event.
        """
        self._timer = asyncio.get_running_loop().call_later(self._next_wait(), self._begin)

    def _begin(self) -> None:
        self._timer = None
        if not self._stopped.is_set():
            self._task = asyncio.create_task(self._beats())

    async def close(self) -> None:
        """Stop beating; wait for a beat in flight (a write is never cut short)."""
        self.stop()
        if self._task is not None:
            await asyncio.wait([self._task])

    def stop(self) -> None:
        """Stop after the current heartbeat (a write in flight is never cut short)."""
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def expires(self) -> float:
        """Monotonic time by which the lease is surely held (for the final write)."""
        return self._expires

    async def _beats(self) -> None:
        """Beat, then wait, until stopped or the lease ends (the first wait is behind)."""
        # Stopped between the timer firing and this task's first step: no beat is due.
        while not self._stopped.is_set() and await self._beat():
            if await sleep_unless_stopped(self._next_wait(), self._stopped):
                return

    def _next_wait(self) -> float:
        return min(self._heartbeat, max(self._expires - time.monotonic(), 0.0))

    async def _beat(self) -> bool:
        """One heartbeat; False when the task was interrupted (beating is over)."""
        if time.monotonic() >= self._expires:
            logger.warning(
                "lease ran out before the database could extend it; stopping the task",
                extra={"action": "lease_expired_locally", **self._log_fields},
            )
            self._interrupt(StopReason.LEASE_LOST)
            return False
        sent = time.monotonic()
        try:
            state = await uncut(self._extend())
        except Exception as error:
            if not is_transient(error):
                logger.exception(
                    "heartbeat failed", extra={"action": "heartbeat_failed", **self._log_fields}
                )
            else:
                logger.warning(
                    "heartbeat failed: %r; retrying",
                    error,
                    extra={"action": "heartbeat_failed", **self._log_fields},
                )
            return True
        if not state.held:
            logger.warning(
                "lease lost (the run was taken over); stopping the task, writing nothing",
                extra={"action": "lease_lost", **self._log_fields},
            )
            self._interrupt(StopReason.LEASE_LOST)
            return False
        self._expires = sent + self._lease
        if state.cancel_requested:
            logger.info(
                "cancel requested; stopping the task",
                extra={"action": "cancel_requested", **self._log_fields},
            )
            self._interrupt(StopReason.CANCEL_REQUESTED)
            return False
        return True
