"""`tickwork`: one command line for every process of the system.

Full-mode commands are configured by `TICKWORK_*` environment variables only. Each
command imports its service lazily, so an executor never loads FastAPI.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import NoReturn

from tickwork_shared.enums import Role
from tickwork_shared.errors import ConfigurationError, TickworkError
from tickwork_shared.lifecycle import run_service, say_misconfigured
from tickwork_shared.logs import configure_logging
from tickwork_shared.setting_errors import unknown_variables
from tickwork_shared.settings import Settings, load_settings

from tickwork.client_cli import COMMANDS as CLIENT_COMMANDS
from tickwork.client_cli import add_client_commands, run_client_command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tickwork", description="tickwork: a distributed job scheduler"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "dev", help="api, planner and executor in one process (SQLite, in-process bus)"
    )
    commands.add_parser("migrate", help="upgrade the database schema to the newest version")
    commands.add_parser("api", help="run the REST api")
    commands.add_parser("planner", help="run a planner")
    commands.add_parser("executor", help="run an executor")
    doctor = commands.add_parser("doctor", help="check this deployment (exit 1 if a check fails)")
    doctor.add_argument("-o", "--output", choices=["table", "json"], default="table")

    keys = commands.add_parser("api-key", help="manage API keys").add_subparsers(
        dest="key_command", required=True, metavar="ACTION"
    )
    create = keys.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument(
        "--expires-at",
        type=_expiry,
        default=None,
        metavar="TIME",
        help="refuse the key from this time on (ISO 8601 with an offset, or a date)",
    )
    keys.add_parser("list", help="list keys (never the keys themselves)")
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", type=int)
    add_client_commands(commands)
    return parser


def _expiry(value: str) -> datetime:
    from tickwork.keys import parse_expiry

    return parse_expiry(value)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command in CLIENT_COMMANDS:
        raise SystemExit(run_client_command(args))
    if args.command == "dev":
        from tickwork.dev import run_dev

        raise SystemExit(run_dev())

    if args.command == "doctor":
        from tickwork.doctor import doctor_command

        raise SystemExit(doctor_command(args.output))
    try:
        settings = load_settings()
    except ConfigurationError as error:
        _exit_misconfigured(args.command, error)
    configure_logging(settings.log_format, settings.log_level)
    for warning in unknown_variables(os.environ, Settings):
        logging.getLogger("tickwork").warning(warning, extra={"action": "unknown_setting"})
    try:
        if args.command == "migrate":
            _migrate(settings)
        elif args.command == "api":
            from tickwork_api.main import serve

            raise SystemExit(run_service(partial(serve, settings), name="api"))
        elif args.command == "planner":
            from tickwork_planner.main import run as run_planner

            raise SystemExit(run_service(partial(run_planner, settings), name="planner"))
        elif args.command == "executor":
            from tickwork_executor.main import run as run_executor

            raise SystemExit(run_service(partial(run_executor, settings), name="executor"))
        elif args.command == "api-key":
            from tickwork.keys import key_command, key_settings

            asyncio.run(key_command(key_settings(settings, Path.cwd(), os.environ), args))
    except KeyboardInterrupt:
        pass
    except ConfigurationError as error:
        _exit_misconfigured(args.command, error)
    except TickworkError as error:
        # A mistake the user can fix (unknown key id, bad setting): say it, no traceback.
        print(f"tickwork {args.command}: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def _exit_misconfigured(command: str, error: ConfigurationError) -> NoReturn:
    """A mistake in the deployment: one line per problem, no traceback, exit code 2."""
    raise SystemExit(say_misconfigured(command, error)) from None


def _migrate(settings: Settings) -> None:
    from tickwork_shared.migrate import upgrade_to_head
    from tickwork_shared.startup import StartupFailed
    from tickwork_shared.startup_rules import classify_database_error

    try:
        upgrade_to_head(settings.database_url)
    except Exception as error:
        raise StartupFailed(classify_database_error(error).reason) from error
    print("database schema is up to date", file=sys.stderr)


if __name__ == "__main__":
    main()
