"""The drill auditor: from the database (read only) and the side-effect ledger, account
for every (job, fire time) of a window.

For each audited job, the fire times expected are computed with the schedule maths
(`tickwork_shared.schedule.fire_times`) over the job's enabled periods (creation, then the
`enable`/`disable`/`delete` rows of the audit log) up to `Rules.until`. Each fire time is
then matched with its execution rows (one per attempt, unique by (job, fire key,
attempt)) and its ledger starts, and classified:

- done: exactly one attempt succeeded, every earlier attempt failed for an allowed
  reason (`Rules.retry_reasons`, e.g. "executor lost");
- skipped: it ended `skipped` for a reason the rules allow (a misfire the job's policy
  asks for, checked exactly; a disable or delete);
- lost: no row at all, or it ended without a success and without an allowed reason;
- stuck: its last attempt is still `queued` or `running`;
- duplicated: more than one attempt succeeded, or one attempt's task started more than
  once (ledger), or a task started for an attempt the database never started.

Rows of scheduled fire times that the schedule does not have are `unexpected`. Recovery is
the time from the end of the fault until the last late run (started more than
`Rules.late_after_seconds` after its due time) started: after it, everything is on time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine
from tickwork_shared.enums import ExecutionStatus, FailureReason, SkipReason
from tickwork_shared.runs import schedule_fire_key
from tickwork_shared.schedule import fire_times, parse_schedule

from tests.drills.facts import (
    UNFINISHED,
    Attempt,
    Changes,
    FireTime,
    JobFacts,
    Rows,
    Rules,
    read_facts,
)
from tests.drills.ledger import Start, read_ledger
from tests.drills.misfires import check_misfires

__all__ = ["Attempt", "Audit", "FireTime", "JobFacts", "Rules", "audit", "judge"]

MAX_FIRE_TIMES = 1_000_000


@dataclass
class Audit:
    expected: int = 0
    done: int = 0
    skipped: int = 0
    retried: int = 0
    """Fire times that needed more than one attempt."""
    executor_lost: int = 0
    """Attempts that ended failed with reason "executor lost"."""
    starts: int = 0
    """Task starts in the ledger for the audited fire times."""
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    bad_failures: list[str] = field(default_factory=list)
    """Attempts that failed for a reason the rules do not allow (the task never fails)."""
    misfire_violations: list[str] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    """Seconds from due to start, for every attempt that started."""
    recovery_seconds: float | None = None

    @property
    def problems(self) -> list[str]:
        named = {
            "lost": self.lost,
            "duplicated": self.duplicated,
            "stuck": self.stuck,
            "unexpected": self.unexpected,
            "failed for a reason not allowed": self.bad_failures,
            "misfire policy broken": self.misfire_violations,
        }
        return [f"{kind}: {what}" for kind, items in named.items() for what in items[:10]]

    @property
    def settled(self) -> bool:
        return not (self.lost or self.stuck)

    def lag(self, quantile: float) -> float:
        return percentile(self.lags, quantile)

    def figures(self) -> list[tuple[str, float, str]]:
        figures = [
            ("runs_expected", self.expected, "runs"),
            ("runs_done", self.done, "runs"),
            ("runs_skipped_by_policy", self.skipped, "runs"),
            ("lost", len(self.lost), "runs"),
            ("duplicated", len(self.duplicated), "runs"),
            ("stuck", len(self.stuck), "runs"),
            ("unexpected", len(self.unexpected), "runs"),
            ("retried", self.retried, "runs"),
            ("executor_lost", self.executor_lost, "attempts"),
            ("task_starts", self.starts, "starts"),
            ("lag_p50", round(self.lag(0.50), 3), "s"),
            ("lag_p99", round(self.lag(0.99), 3), "s"),
        ]
        if self.recovery_seconds is not None:
            figures.append(("recovery_seconds", round(self.recovery_seconds, 1), "s"))
        return figures


def percentile(values: Sequence[float], quantile: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(quantile * len(ordered)))
    return ordered[rank - 1]


async def audit(
    engine: AsyncEngine, job_ids: Iterable[int], rules: Rules, ledger: Path | None = None
) -> Audit:
    """Audit `job_ids` under `rules` (see the module docstring)."""
    ids = sorted(set(job_ids))
    # The ledger first: every start in it then has its (claimed) row in what is read next.
    starts = read_ledger(ledger) if ledger is not None else []
    jobs, changes, rows = await read_facts(engine, ids)
    return judge(jobs, changes, rows, starts, rules)


def expected_fire_times(
    job: JobFacts, changes: Sequence[tuple[datetime, str]], rules: Rules
) -> list[datetime]:
    """The job's fire times in its enabled periods, after `since`, up to `until`.

    A job is enabled from its creation; `disable`/`delete` end a period, `enable` starts
    one whose first fire time is the first after the enable (a pause is not a misfire).
    """
    schedule = parse_schedule(job.schedule, default_start=job.created_at)
    periods: list[tuple[datetime, datetime]] = []
    start: datetime | None = job.created_at
    for at, action in changes:
        if action == "enable" and start is None:
            start = at
        elif action in ("disable", "delete") and start is not None:
            periods.append((start, at))
            start = None
    if start is not None:
        periods.append((start, rules.until))
    times: list[datetime] = []
    for begin, end in periods:
        after = max(begin, rules.since) if rules.since is not None else begin
        until = min(end, rules.until)
        if after < until:
            times.extend(fire_times(schedule, after=after, until=until, limit=MAX_FIRE_TIMES))
    return times


def judge(
    jobs: Sequence[JobFacts],
    changes: Changes,
    rows: Rows,
    starts: Sequence[Start],
    rules: Rules,
) -> Audit:
    """The audit of already-read facts (pure)."""
    report = Audit()
    fire: dict[tuple[int, str], FireTime] = {}
    order: dict[int, list[FireTime]] = {}
    for job in jobs:
        order[job.id] = []
        for at in expected_fire_times(job, changes.get(job.id, []), rules):
            ft = FireTime(job.id, at)
            fire[(job.id, schedule_fire_key(at))] = ft
            order[job.id].append(ft)
    window_start = min((ft.at for fts in order.values() for ft in fts), default=None)
    for job_id, fire_key, row in rows:
        owner = fire.get((job_id, fire_key))
        if owner is not None:
            owner.attempts.append(row)
        elif fire_key.startswith("s:") and _inside(row.scheduled_at, window_start, rules):
            report.unexpected.append(f"job {job_id} {fire_key} #{row.attempt} {row.status}")
    started = Counter(s.execution_id for s in starts)
    audited_ids = {a.execution_id: a for ft in fire.values() for a in ft.attempts}
    known_ids = {a.execution_id for _, _, a in rows}
    for execution_id, count in started.items():
        audited = audited_ids.get(execution_id)
        if audited is None:
            if execution_id not in known_ids:
                report.duplicated.append(f"task started for unknown execution {execution_id}")
            continue
        report.starts += count
        if count > 1:
            report.duplicated.append(f"execution {execution_id} started {count} times")
        if audited.started_at is None:
            report.duplicated.append(
                f"execution {execution_id} ran although it was never claimed ({audited.status})"
            )
    for job in jobs:
        for ft in order[job.id]:
            ft.attempts.sort(key=lambda a: a.attempt)
            _classify(ft, report, rules, started)
        report.misfire_violations.extend(check_misfires(job, order[job.id]))
    report.expected = len(fire)
    report.recovery_seconds = _recovery(fire.values(), rules)
    return report


def _inside(at: datetime, window_start: datetime | None, rules: Rules) -> bool:
    return window_start is not None and window_start <= at <= rules.until


def _classify(ft: FireTime, report: Audit, rules: Rules, started: Counter[str]) -> None:
    for a in ft.attempts:
        if a.started_at is not None:
            report.lags.append((a.started_at - a.due_at).total_seconds())
        if a.reason == FailureReason.EXECUTOR_LOST.value:
            report.executor_lost += 1
    if len(ft.attempts) > 1:
        report.retried += 1
    last = ft.last
    if last is None:
        report.lost.append(ft.describe())
        return
    if last.status in UNFINISHED:
        report.stuck.append(f"{ft.describe()} [{last.execution_id}]")
        return
    for a in ft.attempts[:-1]:
        if a.status != ExecutionStatus.FAILED.value or a.reason not in rules.retry_reasons:
            report.bad_failures.append(ft.describe())
            break
    successes = ft.successes
    if len(successes) > 1:
        report.duplicated.append(f"{ft.describe()}: {len(successes)} attempts succeeded")
    if successes:
        if started[successes[0].execution_id] == 0:
            report.lost.append(f"{ft.describe()}: succeeded without the task starting")
        else:
            report.done += 1
    elif last.status == ExecutionStatus.SKIPPED.value and last.reason in _SKIP_REASONS:
        report.skipped += 1  # a misfire is checked against the policy separately
    else:
        if last.status == ExecutionStatus.FAILED.value and last.reason not in rules.retry_reasons:
            report.bad_failures.append(ft.describe())
        report.lost.append(ft.describe())


_SKIP_REASONS = frozenset(
    {SkipReason.MISFIRE.value, SkipReason.DISABLED.value, SkipReason.DELETED.value}
)


def _recovery(times: Iterable[FireTime], rules: Rules) -> float | None:
    """Seconds from the fault's end until the last late run started (0: none late)."""
    if rules.fault_end is None:
        return None
    fault_start = rules.fault_start or rules.fault_end
    late_after = timedelta(seconds=rules.late_after_seconds)
    recovered = rules.fault_end
    for ft in times:
        done = ft.successes[:1] or [
            a for a in ft.attempts[-1:] if a.status == ExecutionStatus.SKIPPED.value
        ]
        if not done:
            continue
        attempt = done[0]
        began = attempt.started_at or attempt.finished_at
        if began is None or began < fault_start:
            continue
        if began - ft.at > late_after:
            recovered = max(recovered, began)
    return (recovered - rules.fault_end).total_seconds()
