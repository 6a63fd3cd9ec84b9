"""Creating execution rows: the one place that decides what a new run row holds.

The api (manual triggers), and the planner (schedule, retries, commands) all write rows
through `new_run`, so keys, copies of the job's task and the outbox fields agree.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from tickwork_shared.camel import format_utc
from tickwork_shared.db.models import JobExecution, ScheduledJob
from tickwork_shared.enums import ExecutionStatus, Trigger


def schedule_fire_key(fire_time: datetime) -> str:
    """Scheduled runs are keyed by their fire time, so a fire time can only be planned once."""
    return "s:" + format_utc(fire_time)


def manual_fire_key() -> str:
    return "m:" + str(uuid.uuid4())


def command_fire_key(idempotency_key: str | None) -> str:
    """A command's idempotency key becomes its fire key: the same key twice is one run."""
    return "c:" + (idempotency_key if idempotency_key else str(uuid.uuid4()))


def new_run(
    job: ScheduledJob,
    *,
    fire_key: str,
    scheduled_at: datetime,
    trigger: Trigger,
    now: datetime,
    due_at: datetime | None = None,
    attempt: int = 1,
    triggered_by_id: str | None = None,
    publish_claim: str | None = None,
    relay_delay: timedelta = timedelta(seconds=5),
) -> JobExecution:
    """A `queued` row for one attempt of one fire time, ready for the outbox.

    With `publish_claim`, the caller publishes the row itself right after commit (the
    row's `next_publish_at` is pushed out by `relay_delay`, after which any relay takes
    it over). Without, the relay publishes it once `due_at` has come.
    """
    due = due_at or scheduled_at
    if publish_claim is not None:
        next_publish_at = max(due, now) + relay_delay
    else:
        next_publish_at = due
    return _instantiate(
        execution_id=str(uuid.uuid4()),
        job_id=job.id,
        fire_key=fire_key,
        attempt=attempt,
        scheduled_at=scheduled_at,
        trigger=trigger.value,
        status=ExecutionStatus.QUEUED.value,
        task_function=job.task_function,
        args=job.args,
        timeout_seconds=job.timeout_seconds,
        pool=job.pool,
        idempotency_key=f"{job.id}:{fire_key}",
        due_at=due,
        next_publish_at=next_publish_at,
        publish_claim=publish_claim,
        queued_at=now,
        triggered_by_id=triggered_by_id,
        retry_handled=False,
    )


def _instantiate(**values: object) -> JobExecution:
    """A new (transient) `JobExecution` holding `values`, built without attribute events.

    The planner builds a thousand rows a tick, and the ORM's instrumented constructor
    (an event per attribute) was most of its CPU. A new object has no history to track:
    its state is created as the ORM's own loader does (`new_instance`) and the values
    placed in its dict, where a flush reads them for the INSERT like any other.
    """
    row: JobExecution = JobExecution._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    row.__dict__.update(values)
    return row


def scheduled_run(job: ScheduledJob, fire_time: datetime, *, now: datetime) -> JobExecution:
    """`new_run` for a fire time of the job's schedule, keyed by that fire time."""
    return new_run(
        job,
        fire_key=schedule_fire_key(fire_time),
        scheduled_at=fire_time,
        trigger=Trigger.SCHEDULE,
        now=now,
    )


def skipped_run(
    job: ScheduledJob, *, fire_time: datetime, reason: str, now: datetime
) -> JobExecution:
    """A terminal `skipped` row for a fire time that will not run (never published)."""
    row = scheduled_run(job, fire_time, now=now)
    row.status = ExecutionStatus.SKIPPED.value
    row.reason = reason
    row.next_publish_at = None
    row.finished_at = now
    row.retry_handled = True
    return row
