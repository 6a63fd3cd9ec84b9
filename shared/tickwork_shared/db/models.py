"""SQLAlchemy models of every table (DESIGN.md, Data). Alembic migrations own the schema.

Conventions: times are `UTCDateTime` (DATETIME(6) holding UTC); statuses and policies are
short strings from `tickwork_shared.enums`; ids of API keys that acted are strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Computed,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tickwork_shared.db.types import UTCDateTime

# Deterministic constraint names, so migrations can refer to them on every dialect.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
}

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class JobType(Base):
    __tablename__ = "job_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskFunction(Base):
    """What executors offer; upserted by each executor at start and refreshed while it lives."""

    __tablename__ = "task_functions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    params_schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScheduledJob(Base):
    __tablename__ = "scheduled_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    job_type_id: Mapped[int | None] = mapped_column(ForeignKey("job_types.id"))
    task_function_id: Mapped[int] = mapped_column(ForeignKey("task_functions.id"))
    task_function: Mapped[str] = mapped_column(String(200))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    schedule: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_enabled: Mapped[bool] = mapped_column(Boolean)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    overlap_policy: Mapped[str] = mapped_column(String(16))
    misfire_policy: Mapped[str] = mapped_column(String(16))
    misfire_grace_seconds: Mapped[int] = mapped_column(Integer)
    max_retries: Mapped[int] = mapped_column(Integer)
    retry_backoff_seconds: Mapped[int] = mapped_column(Integer)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    jitter_seconds: Mapped[int] = mapped_column(Integer, default=0)
    stale_after_seconds: Mapped[int | None] = mapped_column(Integer)
    # The job's labels as sent; `job_labels` holds the same pairs, indexed, for filters.
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    # The executor pool its runs go to (copied to each run when it is queued).
    pool: Mapped[str] = mapped_column(String(40), default="default", server_default="default")
    # At most this many runs at once (`allow` jobs only); NULL: no limit.
    max_concurrent_runs: Mapped[int | None] = mapped_column(Integer)
    # The next fire time to plan; NULL while disabled, deleted or finished (a past date),
    # so the due-jobs index holds only jobs that can become due.
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[str | None] = mapped_column(String(64))
    updated_by_id: Mapped[str | None] = mapped_column(String(64))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # MariaDB has no partial unique index: a generated column that is NULL for deleted
    # jobs carries the "name unique among active jobs" rule.
    active_name: Mapped[str | None] = mapped_column(
        String(200),
        Computed("CASE WHEN is_active = 1 THEN name ELSE NULL END", persisted=True),
        unique=True,
    )

    __table_args__ = (
        Index("ix_scheduled_jobs_due", "next_run_at", "priority"),
        # In the listing's order (priority desc, id asc), so a page needs no filesort.
        Index("ix_scheduled_jobs_listing", "is_active", text("priority DESC"), "id"),
    )


class JobLabel(Base):
    """One label of one job: what `GET /jobs?label=k=v` looks up (by key and value)."""

    __tablename__ = "job_labels"

    job_id: Mapped[int] = mapped_column(ForeignKey("scheduled_jobs.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(63), primary_key=True)
    value: Mapped[str] = mapped_column(String(63))

    __table_args__ = (Index("ix_job_labels_key_value", "key", "value", "job_id"),)


class JobExecution(Base):
    """One attempt of one fire time of one job. The row is also the outbox of its run message."""

    __tablename__ = "job_executions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(36), unique=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("scheduled_jobs.id"))
    # `s:<fire time>` for scheduled runs, `m:<uuid>` manual, `c:<key>` commands: the unique
    # key below makes each (job, fire key, attempt) exist once.
    fire_key: Mapped[str] = mapped_column(String(220))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(255))
    task_function: Mapped[str] = mapped_column(String(200))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    # The job's pool when this row was queued: its run queue (the relay needs no join,
    # and moving the job affects only runs queued afterwards).
    pool: Mapped[str] = mapped_column(String(40), default="default", server_default="default")
    idempotency_key: Mapped[str] = mapped_column(String(255))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Outbox: the relay publishes queued rows whose next_publish_at has come; NULL once
    # published (or no longer queued). A relay that takes a row pushes it forward by the
    # relay delay, so a relay that dies mid-publish is covered by another.
    next_publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publish_claim: Mapped[str | None] = mapped_column(String(36))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    lease_token: Mapped[str | None] = mapped_column(String(36))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    executor_id: Mapped[str | None] = mapped_column(String(200))
    host_name: Mapped[str | None] = mapped_column(String(255))
    result: Mapped[Any | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    triggered_by_id: Mapped[str | None] = mapped_column(String(64))
    # Set once the planner has written this attempt's retry (or decided there is none),
    # so a failed row is considered exactly once.
    retry_handled: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        UniqueConstraint("job_id", "fire_key", "attempt", name="uq_job_executions_fire"),
        Index("ix_job_executions_job_history", "job_id", "scheduled_at", "attempt"),
        Index("ix_job_executions_history", "scheduled_at", "attempt"),
        Index("ix_job_executions_status_history", "status", "scheduled_at"),
        Index("ix_job_executions_outbox", "next_publish_at"),
        Index("ix_job_executions_lease", "status", "lease_expires_at"),
        Index("ix_job_executions_retry", "retry_handled", "status"),
        Index("ix_job_executions_job_status", "job_id", "status"),
        # `GET /pools` and the pool metrics: queued runs per pool and the oldest of them.
        Index("ix_job_executions_pool_queue", "status", "pool", "queued_at"),
    )


class ScheduledJobLock(Base):
    """SEED.md's job lock: one row per job while a `skip`/`queue` run holds it."""

    __tablename__ = "scheduled_job_locks"

    job_id: Mapped[int] = mapped_column(ForeignKey("scheduled_jobs.id"), primary_key=True)
    execution_id: Mapped[str] = mapped_column(String(36))
    locked_by: Mapped[str] = mapped_column(String(200))
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Executor(Base):
    """One executor process: upserted at start and by its heartbeat (`GET /executors`)."""

    __tablename__ = "executors"

    executor_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host_name: Mapped[str] = mapped_column(String(255))
    pools: Mapped[list[str]] = mapped_column(JSON)
    task_functions: Mapped[list[str]] = mapped_column(JSON)
    concurrency: Mapped[int] = mapped_column(Integer)
    in_flight: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PoolTaskFunction(Base):
    """A task function some executor of a pool has offered (ever; `last_seen_at` says when
    last). The api refuses a job whose pool has no row for its function."""

    __tablename__ = "pool_task_functions"

    pool: Mapped[str] = mapped_column(String(40), primary_key=True)
    task_function: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the key: keys are long random strings, so a fast hash is enough and
    # lets every request look its key up by index.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Refused from this time on, as if revoked (null: never expires).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id"),)


# Events and notifications (issue 22): the event outbox, notification channels, per-job
# notify rules and the notification outbox with its delivery history.

EventBody = LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


class EventOutbox(Base):
    """An event written in the transaction of its change, until a relay has published it.

    Relays take rows in `id` order, never a row of an `ordering_key` (an execution, a
    job) while an earlier row of that key is still here: its events go out in order.
    """

    __tablename__ = "event_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36))
    routing_key: Mapped[str] = mapped_column(String(100))
    ordering_key: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(EventBody)
    # NULL: due now. A relay that takes a row pushes it forward by the relay delay, so a
    # relay that dies mid-publish is covered by another.
    publish_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set once the notifications this event calls for are written (exactly once).
    notified: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_event_outbox_ordering", "ordering_key", "id"),)


class NotificationChannel(Base):
    """Where notifications go: a webhook, a Slack-compatible webhook or an email address."""

    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobNotifyRule(Base):
    """A job's rule: tell `channel` on these conditions (`failed`, `timed_out`, …)."""

    __tablename__ = "job_notify_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("scheduled_jobs.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id"))
    on: Mapped[list[str]] = mapped_column(JSON)
    # The `last success or creation` instant a stale notice was sent for: one per period.
    stale_notified_for: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("job_id", "channel_id", name="uq_job_notify_rules_job_channel"),
    )


class Notification(Base):
    """One notification to deliver (the notification outbox) and how its delivery went."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(Integer)
    channel_id: Mapped[int] = mapped_column(Integer)
    execution_id: Mapped[str | None] = mapped_column(String(36))
    condition: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_job", "job_id", "id"),
    )
