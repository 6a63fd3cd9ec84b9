"""What an executor reports to Prometheus (metrics defined in `tickwork_shared.metrics`)."""

from __future__ import annotations

from tickwork_shared import metrics
from tickwork_shared.enums import ExecutionStatus

from tickwork_executor.run_row import RunRow


def run_ended(row: RunRow, job_type: str) -> None:
    """A run reached a final status here (at claim or after running)."""
    metrics.EXECUTIONS.labels(job_type=job_type, status=row.status).inc()
    if row.status == ExecutionStatus.SKIPPED.value:
        metrics.RUNS_SKIPPED.labels(reason=row.reason or "").inc()
    if row.duration_ms is not None:
        metrics.RUN_DURATION.labels(status=row.status).observe(row.duration_ms / 1000)


def run_started(row: RunRow) -> None:
    if row.started_at is not None:
        lag = (row.started_at - row.scheduled_at).total_seconds()
        metrics.SCHEDULE_LAG.labels(trigger=row.trigger).observe(max(lag, 0.0))


def slots(used: int, size: int) -> None:
    metrics.EXECUTOR_IN_FLIGHT.set(used)
    metrics.EXECUTOR_CAPACITY.set(size)


def bus_reconnects(count: int) -> None:
    metrics.BUS_RECONNECTS.set(count)
