"""`tickwork api-key create|list|revoke` against the configured database."""

from __future__ import annotations

import argparse
import sys

from tickwork_shared.camel import format_utc
from tickwork_shared.enums import Role
from tickwork_shared.settings import Settings
from tickwork_shared.wiring import open_database


async def key_command(settings: Settings, args: argparse.Namespace) -> None:
    from tickwork_api.keys import create_api_key, list_api_keys, revoke_api_key

    async with open_database(settings) as sessions:
        if args.key_command == "create":
            record, key = await create_api_key(sessions, args.name, Role(args.role))
            print(
                f"created {record.role} key {record.id} ({args.name}); it is shown only once:",
                file=sys.stderr,
            )
            # The key alone on the last line of stdout, so scripts can take it with `tail -1`.
            print(key)
        elif args.key_command == "list":
            for item in await list_api_keys(sessions):
                state = f"revoked {format_utc(item.revoked_at)}" if item.revoked_at else "active"
                print(f"{item.id}\t{item.name}\t{item.role}\t{item.prefix}…\t{state}")
        elif args.key_command == "revoke":
            await revoke_api_key(sessions, args.key_id)
            print(f"revoked key {args.key_id}", file=sys.stderr)
