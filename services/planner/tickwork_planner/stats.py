"""Counters of what a planner did, for tests, logs and metrics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PlannerStats:
    """Totals since the planner started; only ever incremented."""

    planning_ticks: int = 0
    runs_queued: int = 0
    """Scheduled runs written `queued` (jittered ones included)."""
    misfires_skipped: int = 0
    relayed: int = 0
    """Run messages the relay got confirmed (its own publisher's not counted)."""
    commands_accepted: int = 0
    commands_duplicate: int = 0
    commands_rejected: int = 0
    retries_written: int = 0
    retries_exhausted: int = 0
    """Failed attempts with no retry left (or whose job was disabled or deleted)."""
    runs_reaped: int = 0
    executions_purged: int = 0
    audit_rows_purged: int = 0
    loop_failures: int = 0

    @property
    def commands_handled(self) -> int:
        return self.commands_accepted + self.commands_duplicate + self.commands_rejected
