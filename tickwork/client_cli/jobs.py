"""`tickwork jobs list|get|trigger|enable|disable|delete|backfill`."""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta
from typing import Any

from tickwork_client import Client, Job

from tickwork.client_cli import output
from tickwork.client_cli.output import Column
from tickwork.client_cli.targets import resolve_job


def run(client: Client, args: argparse.Namespace) -> None:
    if args.action == "list":
        jobs = list(client.iter_jobs(labels=args.label or None, search=args.search))
        print(output.as_json(jobs) if args.output == "json" else _table(jobs))
        return
    job = resolve_job(client, args.job)
    if args.action == "get":
        print(output.as_json(job) if args.output == "json" else _details(job))
    elif args.action in ("enable", "disable"):
        changed = (
            client.enable_job(job.id) if args.action == "enable" else client.disable_job(job.id)
        )
        print(output.as_json(changed) if args.output == "json" else f"{args.action}d {job.name}")
    elif args.action == "delete":
        client.delete_job(job.id)
        print(
            output.as_json({"id": job.id, "name": job.name, "deleted": True})
            if args.output == "json"
            else f"deleted {job.name}"
        )
    elif args.action == "trigger":
        accepted = client.trigger_job(job.id, args=args.args, idempotency_key=args.idempotency_key)
        print(
            output.as_json(accepted)
            if args.output == "json"
            else f"queued {accepted.execution_id} ({job.name})"
        )
    elif args.action == "backfill":
        done = client.backfill_job(job.id, args.start, args.end, max_runs=args.max_runs)
        if args.output == "json":
            print(output.as_json(done))
        elif done.count == 0:
            print(f"queued 0 runs of {job.name}: every fire time in the window has a run")
        else:
            print(
                f"queued {done.count} runs of {job.name}, "
                f"{output.show(done.first_at)} to {output.show(done.last_at)}"
            )
        if args.wait and done.first_at is not None and done.last_at is not None:
            _wait_for_backfill(client, job, done.count, done.first_at, done.last_at)


def _schedule(job: Job) -> str:
    schedule = job.schedule
    kind = schedule.get("kind")
    if kind == "cron":
        zone = schedule.get("timezone") or "UTC"
        return f"{schedule.get('expression')} {zone}"
    if kind == "interval":
        return f"every {schedule.get('seconds')}s"
    if kind == "date":
        return f"at {schedule.get('runAt')}"
    return output.show(schedule)


def _table(jobs: list[Job]) -> str:
    columns = [
        Column("ID"),
        Column("NAME", flexible=True, minimum=8),
        Column("SCHEDULE", flexible=True, minimum=10),
        Column("ON"),
        Column("NEXT RUN (UTC)"),
    ]
    rows = [
        [
            str(job.id),
            job.name,
            _schedule(job),
            "yes" if job.is_enabled else "no",
            job.next_run_at.strftime("%Y-%m-%d %H:%M") if job.next_run_at else "-",
        ]
        for job in jobs
    ]
    return output.table(columns, rows, limit=output.width())


def _details(job: Job) -> str:
    pairs: list[tuple[str, Any]] = [
        ("id", job.id),
        ("name", job.name),
        ("description", job.description),
        ("taskFunction", job.task_function),
        ("args", job.args),
        ("schedule", _schedule(job)),
        ("enabled", job.is_enabled),
        ("labels", ", ".join(f"{k}={v}" for k, v in job.labels.items()) or None),
        ("priority", job.priority),
        ("overlapPolicy", job.overlap_policy),
        ("misfirePolicy", job.misfire_policy),
        ("maxRetries", job.max_retries),
        ("timeoutSeconds", job.timeout_seconds),
        ("nextRunAt", job.next_run_at),
        ("lastRunAt", job.last_run_at),
        ("version", job.version),
        ("updatedAt", job.updated_at),
    ]
    return output.fields(pairs)


def _wait_for_backfill(
    client: Client, job: Job, count: int, first: datetime, last: datetime
) -> None:
    """Poll until no backfill run of the window is queued or running (progress on a
    terminal's stderr)."""

    def runs(status: str) -> int:
        """How many runs from `first` to `last` are in `status` (`until` is exclusive)."""
        until = last + timedelta(microseconds=1)
        found = client.list_executions(
            job_id=job.id, trigger="backfill", since=first, until=until, status=status, per_page=1
        )
        return found.total

    progress = output.Progress("backfill: runs ended", count)
    while True:
        waiting = runs("queued") + runs("running")
        progress.step(count - min(waiting, count))
        if waiting == 0:
            break
        time.sleep(1.0)
    progress.close()
    failed = runs("failed")
    print(f"backfill of {job.name} done" + (f": {failed} failed" if failed else ""))
