"""`tickwork runs list|get|cancel`."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from tickwork_client import Client, Execution

from tickwork.client_cli import output
from tickwork.client_cli.output import Column
from tickwork.client_cli.parsers import WATCH_SECONDS
from tickwork.client_cli.targets import resolve_job


def run(client: Client, args: argparse.Namespace) -> None:
    if args.action == "list":
        _list(client, args)
        return
    if args.action == "get":
        execution = client.get_execution(args.execution_id)
    else:
        execution = client.cancel_execution(args.execution_id)
    if args.output == "json":
        print(output.as_json(execution))
    elif args.action == "get":
        print(_details(execution))
    elif execution.status == "cancelled":
        print(f"cancelled {execution.execution_id}")
    else:
        print(f"cancel requested {execution.execution_id} (it stops at its next heartbeat)")


def _list(client: Client, args: argparse.Namespace) -> None:
    job_id = resolve_job(client, args.job).id if args.job else None
    clear = args.watch and sys.stdout.isatty()
    while True:
        page = client.list_executions(
            job_id=job_id, status=args.status, trigger=args.trigger, per_page=args.limit
        )
        text = output.as_json(page.items) if args.output == "json" else _table(page.items)
        if clear:
            sys.stdout.write("\x1b[H\x1b[2J")
        print(text, flush=True)
        if not args.watch:
            return
        try:
            time.sleep(WATCH_SECONDS)
        except KeyboardInterrupt:
            return


def _table(executions: list[Execution]) -> str:
    columns = [
        Column("EXECUTION"),
        Column("JOB"),
        Column("STATUS"),
        Column("TRIGGER"),
        Column("SCHEDULED (UTC)"),
        Column("REASON", flexible=True, minimum=0),
    ]
    rows = [
        [
            run.execution_id,
            str(run.job_id),
            run.status,
            run.trigger,
            run.scheduled_at.strftime("%m-%d %H:%M:%S"),
            run.reason or "",
        ]
        for run in executions
    ]
    return output.table(columns, rows, limit=output.width())


def _details(run: Execution) -> str:
    pairs: list[tuple[str, Any]] = [
        ("executionId", run.execution_id),
        ("jobId", run.job_id),
        ("status", run.status),
        ("reason", run.reason),
        ("trigger", run.trigger),
        ("attempt", run.attempt),
        ("scheduledAt", run.scheduled_at),
        ("queuedAt", run.queued_at),
        ("startedAt", run.started_at),
        ("finishedAt", run.finished_at),
        ("durationMs", run.duration_ms),
        ("executor", run.executor_id),
        ("result", run.result),
        ("error", run.error),
    ]
    return output.fields(pairs)
