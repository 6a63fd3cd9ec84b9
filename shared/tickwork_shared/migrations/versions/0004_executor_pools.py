"""Executor pools: a job's pool (copied onto its runs), maxConcurrentRuns, executors.

Existing jobs and runs go to the `default` pool, whose queue keeps the name it had
(`tickwork.runs`), so runs queued before the upgrade still run. Every function
registered so far was offered by executors that consumed that one queue: they are
recorded as offered by `default`, so existing jobs stay valid.
"""

import sqlalchemy as sa
from alembic import op
from tickwork_shared.db.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    # Plain ADD COLUMNs (no batch rebuild on SQLite, which would lose the generated
    # column); the server default fills existing rows.
    op.add_column(
        "scheduled_jobs",
        sa.Column("pool", sa.String(40), nullable=False, server_default="default"),
    )
    op.add_column("scheduled_jobs", sa.Column("max_concurrent_runs", sa.Integer()))
    op.add_column(
        "job_executions",
        sa.Column("pool", sa.String(40), nullable=False, server_default="default"),
    )
    op.create_index(
        "ix_job_executions_pool_queue", "job_executions", ["status", "pool", "queued_at"]
    )
    op.create_table(
        "executors",
        sa.Column("executor_id", sa.String(200), primary_key=True),
        sa.Column("host_name", sa.String(255), nullable=False),
        sa.Column("pools", sa.JSON(), nullable=False),
        sa.Column("task_functions", sa.JSON(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_executors_last_seen_at", "executors", ["last_seen_at"])
    op.create_table(
        "pool_task_functions",
        sa.Column("pool", sa.String(40), primary_key=True),
        sa.Column("task_function", sa.String(200), primary_key=True),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO pool_task_functions (pool, task_function, first_seen_at, last_seen_at) "
        "SELECT 'default', name, first_seen_at, last_seen_at FROM task_functions"
    )


def downgrade() -> None:
    op.drop_table("pool_task_functions")
    op.drop_index("ix_executors_last_seen_at", table_name="executors")
    op.drop_table("executors")
    op.drop_index("ix_job_executions_pool_queue", table_name="job_executions")
    # Plain ALTERs (SQLite has DROP COLUMN since 3.35): batch mode would rebuild
    # scheduled_jobs and lose its generated column's definition.
    op.execute("ALTER TABLE job_executions DROP COLUMN pool")
    op.execute("ALTER TABLE scheduled_jobs DROP COLUMN max_concurrent_runs")
    op.execute("ALTER TABLE scheduled_jobs DROP COLUMN pool")
