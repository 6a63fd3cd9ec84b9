"""Bulk seeding with set-based SQL (INSERT … SELECT over MariaDB's sequence tables).

A million rows go in with one statement per chunk instead of a million round trips.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from bench.infra import Place

NOOP = "tickwork.noop"


def sql_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def noop_function(place: Place) -> int:
    """The id of the `tickwork.noop` task function (registered here if no executor did yet)."""
    await place.execute(
        "INSERT INTO task_functions (name, description, params_schema, first_seen_at,"
        " last_seen_at) VALUES (:name, 'bench', '{}', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
        " ON DUPLICATE KEY UPDATE last_seen_at = last_seen_at",
        name=NOOP,
    )
    return int(await place.scalar("SELECT id FROM task_functions WHERE name = :n", n=NOOP))


GRACE_SECONDS = 300
"""The bench jobs' misfire grace (policy `run_once`)."""


async def jobs(
    place: Place,
    count: int,
    *,
    prefix: str,
    schedule: dict[str, object],
    next_run_at: datetime | None,
    enabled: bool = True,
    overlap: str = "allow",
    grace: int = GRACE_SECONDS,
    chunk: int = 100_000,
) -> None:
    """`count` active noop jobs named `<prefix>-<n>`, all with `schedule` and `next_run_at`."""
    function_id = await noop_function(place)
    done = 0
    while done < count:
        size = min(chunk, count - done)
        await place.execute(
            "INSERT INTO scheduled_jobs (name, task_function_id, task_function, args, schedule,"
            " is_enabled, is_active, priority, overlap_policy, misfire_policy,"
            " misfire_grace_seconds, max_retries, retry_backoff_seconds, timeout_seconds,"
            " jitter_seconds, next_run_at, version, created_at, updated_at)"
            f" SELECT CONCAT(:prefix, '-', seq + :offset), :function_id, :fn, '{{}}', :schedule,"
            " :enabled, 1, 0, :overlap, 'run_once', :grace, 0, 1, 60, 0, :next_run_at, 1,"
            f" UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) FROM seq_1_to_{size}",
            prefix=prefix,
            offset=done,
            function_id=function_id,
            fn=NOOP,
            schedule=json.dumps(schedule),
            enabled=1 if enabled else 0,
            overlap=overlap,
            grace=grace,
            next_run_at=sql_time(next_run_at) if next_run_at else None,
        )
        done += size


async def idle_jobs(place: Place, count: int, *, prefix: str) -> int:
    """`count` disabled jobs that are never due (the api's targets); the first one's id."""
    await jobs(
        place,
        count,
        prefix=prefix,
        enabled=False,
        next_run_at=None,
        schedule={"kind": "interval", "seconds": 3600, "startAt": "2030-01-01T00:00:00Z"},
    )
    return int(await place.scalar("SELECT MIN(id) FROM scheduled_jobs"))


async def queued_runs(
    place: Place,
    job_id: int,
    count: int,
    *,
    status: str = "queued",
    chunk: int = 100_000,
    spread_seconds: int = 0,
) -> None:
    """`count` manual runs of `job_id`: `queued` and due for the relay to publish, or
    finished history rows (`status` succeeded) spread over `spread_seconds` of the past."""
    done = 0
    while done < count:
        size = min(chunk, count - done)
        finished = status != "queued"
        await place.execute(
            "INSERT INTO job_executions (execution_id, job_id, fire_key, attempt, scheduled_at,"
            " `trigger`, status, task_function, args, timeout_seconds, idempotency_key, due_at,"
            " next_publish_at, queued_at, published_at, started_at, finished_at, duration_ms,"
            " retry_handled)"
            " SELECT UUID(), :job_id, CONCAT('m:', UUID()), 1, t, 'manual', :status, :fn, '{}',"
            " 60, CONCAT(:job_id, ':m:', seq + :offset), t,"
            " IF(:finished, NULL, t), t, IF(:finished, t, NULL), IF(:finished, t, NULL),"
            " IF(:finished, t, NULL), IF(:finished, 1, NULL), 1"
            f" FROM (SELECT seq, UTC_TIMESTAMP(6) - INTERVAL ((seq + :offset) % :spread + 1)"
            f" SECOND AS t FROM seq_1_to_{size}) s",
            job_id=job_id,
            status=status,
            fn=NOOP,
            offset=done,
            finished=1 if finished else 0,
            spread=max(spread_seconds, 1),
        )
        done += size


async def month_of_history(place: Place, job_ids: Iterable[int], count: int) -> None:
    """`count` succeeded runs of each of `job_ids`, spread over the past 30 days, then fresh
    table statistics, so that the api's queries are planned as on a table that grew so."""
    for job_id in job_ids:
        await queued_runs(place, job_id, count, status="succeeded", spread_seconds=30 * 86400)
    await place.execute("ANALYZE TABLE job_executions", "ANALYZE TABLE scheduled_jobs")
