"""What a planner did: counters on the planner (for tests and logs) and the shared metrics.

Each `record_*` call updates both, so the two never disagree. Prometheus metrics are
process-wide (`tickwork_shared.metrics`); the dataclass fields count this planner only.
"""

from __future__ import annotations

from dataclasses import dataclass

from tickwork_shared import metrics
from tickwork_shared.enums import SkipReason, Trigger


@dataclass
class PlannerStats:
    """Totals since the planner started; only ever incremented."""

    planning_ticks: int = 0
    runs_queued: int = 0
    """Scheduled runs written `queued` (jittered ones included)."""
    misfires_skipped: int = 0
    relayed: int = 0
    """Run messages the relay got confirmed (its own publisher's not counted)."""
    events_relayed: int = 0
    """Events the event relay got confirmed."""
    commands_accepted: int = 0
    commands_duplicate: int = 0
    commands_rejected: int = 0
    retries_written: int = 0
    retries_exhausted: int = 0
    """Failed attempts with no retry left (or whose job was disabled or deleted)."""
    runs_reaped: int = 0
    runs_republished: int = 0
    """Published runs the broker lost, sent back to the outbox (`unclaimed`)."""
    executions_purged: int = 0
    audit_rows_purged: int = 0
    loop_failures: int = 0

    @property
    def commands_handled(self) -> int:
        return self.commands_accepted + self.commands_duplicate + self.commands_rejected

    def record_plan(self, *, queued: int, skipped: int, seconds: float) -> None:
        self.planning_ticks += 1
        self.runs_queued += queued
        self.misfires_skipped += skipped
        metrics.PLANNER_TICK.observe(seconds)
        if queued:
            metrics.RUNS_PLANNED.labels(trigger=Trigger.SCHEDULE.value).inc(queued)
        if skipped:
            metrics.RUNS_SKIPPED.labels(reason=SkipReason.MISFIRE.value).inc(skipped)

    def record_relayed(self, published: int) -> None:
        self.relayed += published
        if published:
            metrics.RUNS_PUBLISHED.inc(published)

    def record_events_relayed(self, published: int) -> None:
        self.events_relayed += published
        if published:
            metrics.EVENTS_PUBLISHED.inc(published)

    def record_command(self, outcome: str) -> None:
        """`outcome`: accepted, duplicate or rejected."""
        if outcome == "accepted":
            self.commands_accepted += 1
            metrics.RUNS_PLANNED.labels(trigger=Trigger.MESSAGE.value).inc()
        elif outcome == "duplicate":
            self.commands_duplicate += 1
        else:
            self.commands_rejected += 1

    def record_retries(self, *, written: int, exhausted: int) -> None:
        self.retries_written += written
        self.retries_exhausted += exhausted
        if written:
            metrics.RETRIES_SCHEDULED.inc(written)
            metrics.RUNS_PLANNED.labels(trigger=Trigger.RETRY.value).inc(written)

    def record_reaped(self, count: int) -> None:
        self.runs_reaped += count
        if count:
            metrics.REAPER_RECOVERIES.inc(count)

    def record_republished(self, count: int) -> None:
        self.runs_republished += count

    def record_purged(self, *, executions: int, audit_rows: int) -> None:
        self.executions_purged += executions
        self.audit_rows_purged += audit_rows

    def record_loop_failure(self) -> None:
        self.loop_failures += 1
