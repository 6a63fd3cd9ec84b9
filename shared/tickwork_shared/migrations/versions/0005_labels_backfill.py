"""Job labels: a JSON column on the job (what the api returns) and `job_labels`, one
indexed row per pair, which `GET /jobs?label=k=v` looks up instead of scanning every job's
JSON (100,000 jobs). Backfill needs no schema: its runs are rows with trigger `backfill`.
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    op.add_column(
        "scheduled_jobs",
        sa.Column("labels", sa.JSON(), nullable=False, server_default=sa.text("'{}'")),
    )
    op.create_table(
        "job_labels",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=63), nullable=False),
        sa.Column("value", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["scheduled_jobs.id"],
            name=op.f("fk_job_labels_job_id_scheduled_jobs"),
        ),
        sa.PrimaryKeyConstraint("job_id", "key"),
    )
    op.create_index("ix_job_labels_key_value", "job_labels", ["key", "value", "job_id"])


def downgrade() -> None:
    op.drop_index("ix_job_labels_key_value", table_name="job_labels")
    op.drop_table("job_labels")
    # Not a batch copy: SQLite (3.35+) drops a plain column in place, and a copy would
    # try to insert into the generated `active_name` column.
    op.drop_column("scheduled_jobs", "labels")
