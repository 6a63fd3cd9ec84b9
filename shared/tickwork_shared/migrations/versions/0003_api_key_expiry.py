"""API keys may expire: `api_keys.expires_at` (null: never).

A key past its expiry is refused (401) like a revoked one; `POST /api-keys` and
`tickwork api-key create --expires-at` set it.
"""

import sqlalchemy as sa
import tickwork_shared.db.types
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("expires_at", tickwork_shared.db.types.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("expires_at")
