"""Upgrade a database to the newest schema (`tickwork migrate`, and `tickwork dev` at start)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    """Bring the schema to head; a no-op when it already is.

    Blocking: Alembic's env runs its own event loop.
    """
    command.upgrade(alembic_config(database_url), "head")


def downgrade_to_base(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")


async def upgrade_to_head_async(database_url: str) -> None:
    """`upgrade_to_head` from inside a running event loop (Alembic's env starts its own)."""
    await asyncio.to_thread(upgrade_to_head, database_url)
