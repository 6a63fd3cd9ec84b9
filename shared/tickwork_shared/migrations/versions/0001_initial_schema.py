"""Initial schema: jobs, job types, task functions, executions, locks, API keys, audit log."""

import sqlalchemy as sa
import tickwork_shared.db.types
from alembic import op

revision: str = "0001"
down_revision: str | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", tickwork_shared.db.types.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", tickwork_shared.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("occurred_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["entity_type", "entity_id"], unique=False)
    op.create_index(op.f("ix_audit_log_occurred_at"), "audit_log", ["occurred_at"], unique=False)

    op.create_table(
        "job_types",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name=op.f("uq_job_types_name")),
    )
    op.create_table(
        "task_functions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("params_schema", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name=op.f("uq_task_functions_name")),
    )
    op.create_table(
        "scheduled_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("job_type_id", sa.Integer(), nullable=True),
        sa.Column("task_function_id", sa.Integer(), nullable=False),
        sa.Column("task_function", sa.String(length=200), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("overlap_policy", sa.String(length=16), nullable=False),
        sa.Column("misfire_policy", sa.String(length=16), nullable=False),
        sa.Column("misfire_grace_seconds", sa.Integer(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("retry_backoff_seconds", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("jitter_seconds", sa.Integer(), nullable=False),
        sa.Column("stale_after_seconds", sa.Integer(), nullable=True),
        sa.Column("next_run_at", tickwork_shared.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_run_at", tickwork_shared.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_success_at", tickwork_shared.db.types.UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.String(length=64), nullable=True),
        sa.Column("updated_by_id", sa.String(length=64), nullable=True),
        sa.Column("deleted_at", tickwork_shared.db.types.UTCDateTime(), nullable=True),
        sa.Column(
            "active_name",
            sa.String(length=200),
            sa.Computed("CASE WHEN is_active = 1 THEN name ELSE NULL END", persisted=True),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["job_type_id"], ["job_types.id"], name=op.f("fk_scheduled_jobs_job_type_id_job_types")
        ),
        sa.ForeignKeyConstraint(
            ["task_function_id"],
            ["task_functions.id"],
            name=op.f("fk_scheduled_jobs_task_function_id_task_functions"),
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("active_name", name=op.f("uq_scheduled_jobs_active_name")),
    )
    op.create_index(
        "ix_scheduled_jobs_due", "scheduled_jobs", ["next_run_at", "priority"], unique=False
    )
    op.create_index(
        "ix_scheduled_jobs_listing", "scheduled_jobs", ["is_active", "priority", "id"], unique=False
    )

    op.create_table(
        "job_executions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("fire_key", sa.String(length=220), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("scheduled_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("task_function", sa.String(length=200), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("due_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.Column("next_publish_at", tickwork_shared.db.types.UTCDateTime(), nullable=True),
        sa.Column("publish_claim", sa.String(length=36), nullable=True),
        sa.Column("queued_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.Column("published_at", tickwork_shared.db.types.UTCDateTime(), nullable=True),
        sa.Column("started_at", tickwork_shared.db.types.UTCDateTime(), nullable=True),
        sa.Column("finished_at", tickwork_shared.db.types.UTCDateTime(), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("lease_expires_at", tickwork_shared.db.types.UTCDateTime(), nullable=True),
        sa.Column("cancel_requested_at", tickwork_shared.db.types.UTCDateTime(), nullable=True),
        sa.Column("executor_id", sa.String(length=200), nullable=True),
        sa.Column("host_name", sa.String(length=255), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("triggered_by_id", sa.String(length=64), nullable=True),
        sa.Column("retry_handled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["scheduled_jobs.id"], name=op.f("fk_job_executions_job_id_scheduled_jobs")
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("execution_id", name=op.f("uq_job_executions_execution_id")),
        sa.UniqueConstraint("job_id", "fire_key", "attempt", name="uq_job_executions_fire"),
    )
    op.create_index(
        "ix_job_executions_history", "job_executions", ["scheduled_at", "attempt"], unique=False
    )
    op.create_index(
        "ix_job_executions_job_history",
        "job_executions",
        ["job_id", "scheduled_at", "attempt"],
        unique=False,
    )
    op.create_index(
        "ix_job_executions_job_status", "job_executions", ["job_id", "status"], unique=False
    )
    op.create_index(
        "ix_job_executions_lease", "job_executions", ["status", "lease_expires_at"], unique=False
    )
    op.create_index("ix_job_executions_outbox", "job_executions", ["next_publish_at"], unique=False)
    op.create_index(
        "ix_job_executions_retry", "job_executions", ["retry_handled", "status"], unique=False
    )
    op.create_index(
        "ix_job_executions_status_history",
        "job_executions",
        ["status", "scheduled_at"],
        unique=False,
    )

    op.create_table(
        "scheduled_job_locks",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.String(length=36), nullable=False),
        sa.Column("locked_by", sa.String(length=200), nullable=False),
        sa.Column("locked_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", tickwork_shared.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["scheduled_jobs.id"],
            name=op.f("fk_scheduled_job_locks_job_id_scheduled_jobs"),
        ),
        sa.PrimaryKeyConstraint("job_id"),
    )


def downgrade() -> None:
    op.drop_table("scheduled_job_locks")

    op.drop_table("job_executions")

    op.drop_table("scheduled_jobs")
    op.drop_table("task_functions")
    op.drop_table("job_types")

    op.drop_table("audit_log")
    op.drop_table("api_keys")
