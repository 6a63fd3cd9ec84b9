"""`tickwork api-key create|list|revoke` against the configured database.

Which database: `TICKWORK_DATABASE_URL` when it is set; otherwise, in a folder where
`tickwork dev` keeps its SQLite file (`./tickwork.db`), that file (API.md: a key created
there works at once against `tickwork dev`); otherwise the default MariaDB URL.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from tickwork_shared.camel import format_utc
from tickwork_shared.enums import Role
from tickwork_shared.errors import TickworkError
from tickwork_shared.settings import Settings
from tickwork_shared.wiring import open_database

DEV_DATABASE_FILE = "tickwork.db"  # the file `tickwork dev` keeps (tickwork.dev.DATABASE_FILE)


def key_settings(settings: Settings, folder: Path, environ: Mapping[str, str]) -> Settings:
    """`settings`, pointed at `folder/tickwork.db` when no database URL is configured and
    that file exists."""
    database = folder / DEV_DATABASE_FILE
    if "TICKWORK_DATABASE_URL" in environ or not database.is_file():
        return settings
    return settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{database}"})


def parse_expiry(value: str) -> datetime:
    """`--expires-at`: ISO 8601 with an offset (`2027-01-01T00:00:00Z`), or a date (UTC
    midnight at its start)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {value!r} (e.g. 2027-01-01T00:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        if len(value) > len("2027-01-01"):
            raise argparse.ArgumentTypeError(f"give the time with an offset or Z: {value!r}")
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _when(value: datetime | None, never: str) -> str:
    return format_utc(value) if value is not None else never


async def key_command(settings: Settings, args: argparse.Namespace) -> None:
    from tickwork_api.errors import ValidationFailed
    from tickwork_api.keys import create_api_key, list_api_keys, revoke_api_key

    async with open_database(settings) as sessions:
        if args.key_command == "create":
            try:
                record, key = await create_api_key(
                    sessions, args.name, Role(args.role), expires_at=args.expires_at
                )
            except ValidationFailed as error:
                fields = "; ".join(f"{e.field}: {e.message}" for e in error.errors)
                raise TickworkError(fields) from None
            expiry = f", expires {format_utc(record.expires_at)}" if record.expires_at else ""
            print(
                f"created {record.role} key {record.id} ({args.name}{expiry}); "
                "it is shown only once:",
                file=sys.stderr,
            )
            # The key alone on the last line of stdout, so scripts can take it with `tail -1`.
            print(key)
        elif args.key_command == "list":
            print("id\tname\trole\tprefix\tstate\texpires\tlast used")
            now = datetime.now(UTC)
            for item in await list_api_keys(sessions):
                if item.revoked_at:
                    state = f"revoked {format_utc(item.revoked_at)}"
                elif item.expires_at is not None and item.expires_at <= now:
                    state = "expired"
                else:
                    state = "active"
                print(
                    f"{item.id}\t{item.name}\t{item.role}\t{item.prefix}…\t{state}"
                    f"\t{_when(item.expires_at, 'never')}\t{_when(item.last_used_at, 'never')}"
                )
        elif args.key_command == "revoke":
            await revoke_api_key(sessions, args.key_id)
            print(f"revoked key {args.key_id}", file=sys.stderr)
