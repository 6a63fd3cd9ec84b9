"""The doctor's pure judgements: what was read from the database, against what tickwork
needs, gives a finding. No I/O, so each rule is tested on its own."""

from __future__ import annotations

from datetime import datetime, timedelta

from tickwork.doctor.findings import Finding, failed, passed

__all__ = [
    "judge_clock",
    "judge_executors",
    "judge_outbox",
    "judge_session",
    "judge_stale",
    "judge_version",
]

MIN_MARIADB = (10, 6)
MAX_CLOCK_SKEW_SECONDS = 1.0
SHOWN_NAMES = 5


def judge_version(version: str) -> Finding:
    """MariaDB ≥ 10.6 (SKIP LOCKED, idle_transaction_timeout); MySQL is not supported."""
    numbers = version.split("-", 1)[0].split(".")
    try:
        major, minor = int(numbers[0]), int(numbers[1])
    except (IndexError, ValueError):
        return failed("database version", f"cannot read the version {version!r}")
    fix = "upgrade to MariaDB 10.6 or newer"
    if "mariadb" not in version.lower():
        return failed("database version", f"{version} is not MariaDB", fix)
    if (major, minor) < MIN_MARIADB:
        return failed("database version", f"MariaDB {major}.{minor} is older than 10.6", fix)
    return passed("database version", f"MariaDB {version} (≥ 10.6)")


def judge_session(isolation: str, time_zone: str, offset_seconds: int) -> Finding:
    """tickwork's sessions run READ COMMITTED (its claims rely on it) and read the time
    with UTC_TIMESTAMP, so the session time zone is reported, not required."""
    zone = f"time zone {time_zone} (UTC{offset_seconds / 3600:+.1f} h; tickwork uses UTC)"
    if isolation.upper().replace(" ", "-") != "READ-COMMITTED":
        return failed(
            "database session",
            f"isolation {isolation}, {zone}",
            "tickwork's connections must run READ COMMITTED: a proxy in between (MaxScale,"
            " ProxySQL) must pass SET SESSION TRANSACTION ISOLATION LEVEL through",
        )
    return passed("database session", f"isolation READ-COMMITTED, {zone}")


def judge_clock(skew_seconds: float) -> Finding:
    detail = f"database clock {skew_seconds:+.3f} s from this host's"
    if abs(skew_seconds) > MAX_CLOCK_SKEW_SECONDS:
        return failed(
            "clock skew",
            f"{detail} (more than {MAX_CLOCK_SKEW_SECONDS:g} s)",
            "synchronise the clocks of the hosts and the database with NTP (chrony)",
        )
    return passed("clock skew", detail)


def judge_executors(seen: list[tuple[str, datetime]], now: datetime, ttl: float) -> Finding:
    """Executors refresh their task functions' `last_seen_at` while they live."""
    alive = sorted(name for name, at in seen if now - at <= timedelta(seconds=ttl))
    if not alive:
        last = max((at for _, at in seen), default=None)
        since = "never" if last is None else f"last {(now - last).total_seconds():.0f} s ago"
        return failed(
            "executors",
            f"no executor has offered a task function within {ttl:g} s ({since})",
            "start `tickwork executor` (with TICKWORK_TASK_MODULES) and check its log",
        )
    names = ", ".join(alive[:SHOWN_NAMES]) + (" …" if len(alive) > SHOWN_NAMES else "")
    return passed("executors", f"{len(alive)} task functions offered: {names}")


def judge_outbox(count: int, oldest_age: float, allowed_age: float) -> Finding:
    detail = f"{count} queued runs unpublished" + (
        f", the oldest {oldest_age:.0f} s old" if count else ""
    )
    if count and oldest_age > allowed_age:
        return failed(
            "outbox",
            f"{detail} (more than {allowed_age:g} s)",
            "a planner publishes them: check that one runs and reaches RabbitMQ",
        )
    return passed("outbox", detail)


def judge_stale(names: list[str], count: int) -> Finding:
    if not count:
        return passed("stale jobs", "none")
    shown = ", ".join(names[:SHOWN_NAMES]) + (" …" if count > SHOWN_NAMES else "")
    return failed(
        "stale jobs",
        f"{count} enabled jobs without a success within their staleAfterSeconds: {shown}",
        "see GET /api/v1/jobs?stale=true and those jobs' executions",
    )
