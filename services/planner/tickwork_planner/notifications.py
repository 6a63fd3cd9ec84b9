"""Notifications: derived from events, stale jobs detected, deliveries made and retried.

Every step is a short transaction and safe with many planners:
- `derive` runs inside the event relay's claim (rows not yet `notified`), so each event
  makes its notifications exactly once, whether or not the broker is up;
- `detect_stale` locks the rules it looks at (`SKIP LOCKED`) and records the stale
  period it notified (`stale_notified_for`), so a period is notified once, not per tick;
- `claim_due` pushes each taken notification out by a lease before delivering, so a
  planner that dies mid-delivery leaves it to another (at least once, like events);
- `finish` writes each outcome: delivered, or the next attempt after a back-off, or
  failed after the last attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now, for_claim, is_sqlite
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import (
    JobExecution,
    JobNotifyRule,
    Notification,
    NotificationChannel,
    ScheduledJob,
)
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.events import PendingEvent
from tickwork_shared.notify import (
    Condition,
    DeliveryStatus,
    final_failure,
    retry_delay,
    stale_basis,
    summary,
    wants,
)

logger = logging.getLogger(__name__)

_WATCHED = {
    f"execution.{status.value}"
    for status in (
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.SKIPPED,
        ExecutionStatus.SUCCEEDED,
    )
}
_ENDED_BADLY = (ExecutionStatus.FAILED.value, ExecutionStatus.TIMED_OUT.value)
_FINISHED = (ExecutionStatus.SUCCEEDED.value, *_ENDED_BADLY)


@dataclass(frozen=True)
class _Rule:
    job_id: int
    channel_id: int
    on: list[str]


def _new(
    rule: _Rule,
    job: ScheduledJob,
    condition: Condition,
    execution: dict[str, Any] | None,
    now: datetime,
) -> Notification:
    payload = {
        "condition": condition.value,
        "summary": summary(condition, job.name, execution),
        "job": {"id": job.id, "name": job.name},
        "execution": execution,
        "occurredAt": now.isoformat().replace("+00:00", "Z"),
    }
    return Notification(
        job_id=job.id,
        channel_id=rule.channel_id,
        execution_id=execution["executionId"] if execution else None,
        condition=condition.value,
        payload=payload,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


async def derive(session: AsyncSession, events: Sequence[PendingEvent]) -> None:
    """Write the notifications that `events` call for (in the caller's transaction)."""
    watched = [e for e in events if e.routing_key in _WATCHED and e.job_id is not None]
    if not watched:
        return
    job_ids = sorted({cast(int, e.job_id) for e in watched})
    rules = [
        _Rule(job_id, channel_id, list(on))
        for job_id, channel_id, on in (
            await session.execute(
                select(JobNotifyRule.job_id, JobNotifyRule.channel_id, JobNotifyRule.on).where(
                    JobNotifyRule.job_id.in_(job_ids)
                )
            )
        ).all()
    ]
    if not rules:
        return
    jobs = {
        job.id: job
        for job in (
            await session.scalars(
                select(ScheduledJob).where(ScheduledJob.id.in_({r.job_id for r in rules}))
            )
        ).all()
    }
    now = await db_now(session)
    written: list[Notification] = []
    for event in watched:
        job = jobs.get(cast(int, event.job_id))
        job_rules = [rule for rule in rules if rule.job_id == event.job_id]
        if job is None or not job_rules:
            continue
        body = orjson.loads(event.body)
        condition = await _condition_of(session, body, job)
        if condition is None:
            continue
        for rule in job_rules:
            if wants(rule.on, condition, body.get("reason")):
                written.append(_new(rule, job, condition, body, now))
    session.add_all(written)


async def _condition_of(
    session: AsyncSession, body: dict[str, Any], job: ScheduledJob
) -> Condition | None:
    status = body.get("status")
    if status == ExecutionStatus.SKIPPED.value:
        return Condition.SKIPPED
    if status in _ENDED_BADLY:
        return final_failure(
            str(status),
            int(body.get("attempt") or 1),
            max_retries=job.max_retries,
            job_active=job.is_active,
        )
    if status == ExecutionStatus.SUCCEEDED.value and await _after_failure(session, body):
        return Condition.RECOVERED
    return None


async def _after_failure(session: AsyncSession, body: dict[str, Any]) -> bool:
    """The job's previous fire time (another fire key) ended failed or timed out."""
    this = await session.scalar(
        select(JobExecution.fire_key).where(JobExecution.execution_id == body["executionId"])
    )
    if this is None:
        return False
    previous = await session.scalar(
        select(JobExecution.status)
        .where(
            JobExecution.job_id == body["jobId"],
            JobExecution.fire_key != this,
            JobExecution.status.in_(_FINISHED),
            JobExecution.finished_at.is_not(None),
        )
        .order_by(JobExecution.finished_at.desc())
        .limit(1)
    )
    return previous in _ENDED_BADLY


async def detect_stale(sessions: SessionFactory) -> int:
    """Write a `stale` notification for each rule of a stale job not yet told about this
    stale period; how many were written."""

    async def work(session: AsyncSession) -> int:
        now = await db_now(session)
        query = (
            select(JobNotifyRule, ScheduledJob)
            .join(ScheduledJob, ScheduledJob.id == JobNotifyRule.job_id)
            .where(
                and_(
                    ScheduledJob.is_active.is_(True),
                    ScheduledJob.is_enabled.is_(True),
                    ScheduledJob.stale_after_seconds.is_not(None),
                )
            )
            .order_by(JobNotifyRule.id)
        )
        if not is_sqlite(session):
            # Only the rules are locked: planning and job changes never wait on this.
            query = query.with_for_update(skip_locked=True, of=JobNotifyRule)
        written = 0
        for rule, job in (await session.execute(query)).all():
            if not wants(rule.on, Condition.STALE):
                continue
            basis = stale_basis(
                now,
                last_success_at=job.last_success_at,
                created_at=job.created_at,
                stale_after_seconds=job.stale_after_seconds,
                notified_for=rule.stale_notified_for,
            )
            if basis is None:
                continue
            rule.stale_notified_for = basis
            session.add(
                _new(_Rule(job.id, rule.channel_id, rule.on), job, Condition.STALE, None, now)
            )
            written += 1
        return written

    return await run_in_transaction(sessions, work, what="stale jobs")


@dataclass(frozen=True)
class Due:
    """A notification taken for delivery, with its channel."""

    id: int
    attempts: int
    payload: dict[str, Any]
    condition: str
    channel_kind: str
    channel_config: dict[str, Any]


async def claim_due(sessions: SessionFactory, *, limit: int, lease_seconds: float) -> list[Due]:
    """Take up to `limit` pending notifications whose time has come; push them out by
    `lease_seconds` so another planner retries them if this one dies mid-delivery."""

    async def work(session: AsyncSession) -> list[Due]:
        now = await db_now(session)
        query = (
            select(Notification, NotificationChannel)
            .join(NotificationChannel, NotificationChannel.id == Notification.channel_id)
            .where(
                Notification.status == DeliveryStatus.PENDING.value,
                Notification.next_attempt_at <= now,
            )
            .order_by(Notification.next_attempt_at)
            .limit(limit)
        )
        taken = (await session.execute(for_claim(session, cast(Any, query)))).all()
        due: list[Due] = []
        for note, channel in taken:
            note.next_attempt_at = now + timedelta(seconds=lease_seconds)
            due.append(
                Due(
                    note.id,
                    note.attempts,
                    note.payload,
                    note.condition,
                    channel.kind,
                    channel.config,
                )
            )
        return due

    return await run_in_transaction(sessions, work, what="notifications claim")


@dataclass(frozen=True)
class Outcome:
    due: Due
    error: str | None
    """None: delivered."""


async def finish(
    sessions: SessionFactory,
    outcomes: Sequence[Outcome],
    *,
    max_attempts: int,
    backoff_seconds: float,
    backoff_cap_seconds: float,
) -> None:
    """Record each delivery attempt: delivered, retried after a back-off, or failed."""
    if not outcomes:
        return

    async def work(session: AsyncSession) -> None:
        now = await db_now(session)
        for outcome in outcomes:
            attempts = outcome.due.attempts + 1
            values: dict[str, Any] = {"attempts": attempts, "last_error": outcome.error}
            if outcome.error is None:
                values |= {
                    "status": DeliveryStatus.DELIVERED.value,
                    "delivered_at": now,
                    "next_attempt_at": None,
                }
            elif attempts >= max_attempts:
                values |= {"status": DeliveryStatus.FAILED.value, "next_attempt_at": None}
            else:
                delay = retry_delay(
                    attempts, base_seconds=backoff_seconds, cap_seconds=backoff_cap_seconds
                )
                values["next_attempt_at"] = now + timedelta(seconds=delay)
            await session.execute(
                update(Notification)
                .where(
                    Notification.id == outcome.due.id,
                    Notification.status == DeliveryStatus.PENDING.value,
                )
                .values(**values)
            )

    await run_in_transaction(sessions, work, what="notifications outcome")
