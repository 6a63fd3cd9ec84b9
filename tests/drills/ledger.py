"""Reading the side-effect ledger that `tests.drills.tasks.tick` writes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Start:
    """One real start of the drill task."""

    execution_id: str
    job_id: int
    scheduled_at: datetime
    attempt: int
    pid: int
    at: float  # epoch seconds


def ledger_in(workdir: Path) -> Path:
    """Where a drill's tasks write the ledger: in its stack's work folder."""
    return workdir / "ledger.txt"


def read_ledger(path: Path) -> list[Start]:
    """Every start written so far (a missing file: none). A torn last line is ignored."""
    if not path.exists():
        return []
    starts = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 6:
            continue
        execution_id, job_id, scheduled, attempt, pid, at = parts
        starts.append(
            Start(
                execution_id,
                int(job_id),
                datetime.fromisoformat(scheduled),
                int(attempt),
                int(pid),
                float(at),
            )
        )
    return starts


def starts_by_execution(starts: list[Start]) -> Counter[str]:
    return Counter(start.execution_id for start in starts)
