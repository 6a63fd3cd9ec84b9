"""The client commands' arguments, apart from the code that runs them: building `tickwork`'s
parser imports no http client (an executor starting up does not load one)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATUSES = ["queued", "running", "succeeded", "failed", "timed_out", "cancelled", "skipped"]
TRIGGERS = ["schedule", "manual", "retry", "message", "backfill"]
WATCH_SECONDS = 2.0


def add_client_commands(commands: Any) -> None:
    """Register `jobs`, `runs` and `apply` on `tickwork`'s subcommand parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-o",
        "--output",
        choices=["table", "json"],
        default="table",
        help="table (default) or the api's JSON",
    )
    _add_jobs(commands, common)
    _add_runs(commands, common)
    _add_apply(commands, common)


def label(text: str) -> str:
    """`-l team=billing`: checked here (bad usage, exit 2), sent as typed."""
    key, equals, _value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not key=value")
    return text


def _add_label_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """`-l/--label K=V`, repeatable."""
    parser.add_argument(
        "-l", "--label", action="append", type=label, default=[], metavar="K=V", help=help_text
    )


def instant(text: str) -> datetime:
    """`--from 2026-03-01` or `2026-03-01T02:00:00+01:00`; no offset means UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-03-01T02:00:00Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _add_jobs(commands: Any, common: argparse.ArgumentParser) -> None:
    jobs = commands.add_parser("jobs", help="list, inspect and drive jobs (over the api)")
    actions = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="list active jobs")
    _add_label_option(listing, "only jobs with this label (repeatable: all must match)")
    listing.add_argument("--search", help="name contains")
    for action, what in [
        ("get", "show one job"),
        ("enable", "resume scheduling"),
        ("disable", "pause scheduling (queued runs end skipped)"),
        ("delete", "delete (its history stays)"),
    ]:
        actions.add_parser(action, parents=[common], help=what).add_argument("job")
    trigger = actions.add_parser("trigger", parents=[common], help="run now")
    trigger.add_argument("job")
    trigger.add_argument("--args", type=_json_object, help="JSON object: this run's arguments")
    trigger.add_argument("--idempotency-key", help="the same key again makes no second run")
    backfill = actions.add_parser(
        "backfill", parents=[common], help="run the fire times of [--from, --to) again"
    )
    backfill.add_argument("job")
    backfill.add_argument("--from", dest="start", required=True, type=instant, metavar="T")
    backfill.add_argument("--to", dest="end", required=True, type=instant, metavar="T")
    backfill.add_argument("--max-runs", type=int, help="refuse more fire times than this")
    backfill.add_argument(
        "--wait", action="store_true", help="wait until every queued run has ended"
    )


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _add_runs(commands: Any, common: argparse.ArgumentParser) -> None:
    runs = commands.add_parser("runs", help="list, inspect and cancel executions")
    actions = runs.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="executions, newest first")
    listing.add_argument("--job", metavar="NAME_OR_ID", help="only this job's runs")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--trigger", choices=TRIGGERS)
    listing.add_argument(
        "-n",
        "--limit",
        type=int,
        default=20,
        choices=range(1, 101),
        metavar="N",
        help="how many (1..100, default 20)",
    )
    listing.add_argument(
        "--watch", action="store_true", help=f"refresh every {WATCH_SECONDS:g}s until Ctrl-C"
    )
    for action, what in [("get", "show one execution"), ("cancel", "stop a run")]:
        actions.add_parser(action, parents=[common], help=what).add_argument("execution_id")


def _add_apply(commands: Any, common: argparse.ArgumentParser) -> None:
    apply = commands.add_parser(
        "apply", parents=[common], help="create/update jobs to match a YAML file"
    )
    apply.add_argument("-f", "--file", required=True, type=Path, metavar="FILE")
    apply.add_argument(
        "--dry-run", action="store_true", help="print what would change; change nothing"
    )
    apply.add_argument(
        "--prune",
        action="store_true",
        help="delete active jobs with all the -l labels that are not in FILE",
    )
    _add_label_option(apply, "with --prune: the labels that select the jobs FILE owns (required)")
