"""`tickwork doctor`: check a deployment with the services' own environment, one line per
check, each passed (✓) or failed (✗) with what to do; exit 0 when every check passes.

The first thing to run when something is wrong: it reads the same `TICKWORK_*` variables
as the services and asks the database and the broker what the services would need. A
check that depends on a failed one (the schema on a database that does not answer) is
skipped (·), so a broken piece shows as its own line alone. Read-only but for a private,
self-deleting queue on RabbitMQ (to prove the user may declare, publish and read). On a
SQLite database (`tickwork dev`) only the checks that apply run.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson
from sqlalchemy import func, select, text, true
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tickwork_shared.db.engine import create_engine, create_session_factory
from tickwork_shared.db.models import ScheduledJob, TaskFunction
from tickwork_shared.logs import redact
from tickwork_shared.schema_versions import known_revisions
from tickwork_shared.setting_errors import SettingsInvalid, unknown_variables
from tickwork_shared.settings import Settings, load_settings
from tickwork_shared.startup import connect_broker, schema_revision
from tickwork_shared.startup_rules import (
    classify_bus_error,
    classify_database_error,
    schema_problem,
)

MIN_MARIADB = (10, 6)
MAX_CLOCK_SKEW_SECONDS = 1.0
OUTBOX_GRACE_SECONDS = 10.0
"""Beyond the relay delay and interval: how late a queued run may be in being published."""
CHECK_TIMEOUT_SECONDS = 10.0
SHOWN_NAMES = 5


class Status(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


MARKS = {Status.OK: "✓", Status.FAILED: "✗", Status.SKIPPED: "·"}


@dataclass(frozen=True)
class Finding:
    check: str
    status: Status
    detail: str
    fix: str = ""


def passed(check: str, detail: str) -> Finding:
    return Finding(check, Status.OK, detail)


def failed(check: str, detail: str, fix: str = "") -> Finding:
    return Finding(check, Status.FAILED, detail, fix)


# --- pure judgements -------------------------------------------------------------------


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


# --- the checks ------------------------------------------------------------------------


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"


T = TypeVar("T")


async def _timed(work: Awaitable[T]) -> T:
    async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
        return await work


class _Doctor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.findings: list[Finding] = []
        self.failed_checks: set[str] = set()

    async def run(self, check: str, work: Callable[[], Awaitable[Finding]], *needs: str) -> None:
        missing = [need for need in needs if need in self.failed_checks]
        if missing:
            self.failed_checks.add(check)
            self.findings.append(Finding(check, Status.SKIPPED, f"needs {missing[0]}"))
            return
        try:
            finding = await work()
        except Exception as error:  # a connection lost midway, a query refused: say it
            message = redact(" ".join(str(error).split()))[:200]
            finding = failed(check, f"could not check: {type(error).__name__}: {message}")
        if finding.status is not Status.OK:
            self.failed_checks.add(check)
        self.findings.append(finding)

    async def database(self, engine: AsyncEngine) -> None:
        sqlite = self.settings.is_sqlite

        async def reachable() -> Finding:
            try:
                async with engine.connect() as connection:
                    await _timed(connection.execute(text("SELECT 1")))
            except Exception as error:
                return failed("database", classify_database_error(error).reason)
            return passed("database", f"reachable at {_safe_url(self.settings.database_url)}")

        await self.run("database", reachable)
        if not sqlite:
            await self.run("database version", lambda: self._version(engine), "database")
        await self.run("schema", lambda: self._schema(engine), "database")
        if not sqlite:
            await self.run("database session", lambda: self._session(engine), "database")
            await self.run("clock skew", lambda: self._clock(engine), "database")
        await self.run("executors", lambda: self._executors(engine), "schema")
        if not sqlite:
            await self.run("outbox", lambda: self._outbox(engine), "schema")
        await self.run("stale jobs", lambda: self._stale(engine), "schema")

    async def _version(self, engine: AsyncEngine) -> Finding:
        async with engine.connect() as connection:
            version = await _timed(connection.scalar(text("SELECT VERSION()")))
        return judge_version(str(version))

    async def _schema(self, engine: AsyncEngine) -> Finding:
        async with engine.connect() as connection:
            current = await _timed(schema_revision(connection))
        heads, known = known_revisions()
        problem = schema_problem(current, heads, known)
        if problem is not None:
            detail, _, fix = problem.partition(": ")
            return failed("schema", detail, fix)
        return passed("schema", f"at {current}, this code's newest revision")

    async def _session(self, engine: AsyncEngine) -> Finding:
        async with engine.connect() as connection:
            isolation = await _timed(_isolation(connection))
            row = (
                await connection.execute(
                    text("SELECT @@time_zone, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())")
                )
            ).one()
        return judge_session(isolation, str(row[0]), int(row[1]))

    async def _clock(self, engine: AsyncEngine) -> Finding:
        async with engine.connect() as connection:
            before = time.time()
            database_now = await _timed(connection.scalar(text("SELECT UTC_TIMESTAMP(6)")))
            after = time.time()
        assert isinstance(database_now, datetime)
        host = (before + after) / 2
        return judge_clock(database_now.replace(tzinfo=UTC).timestamp() - host)

    async def _db_now(self, connection: AsyncConnection) -> datetime:
        if self.settings.is_sqlite:
            return datetime.now(UTC)
        value = await connection.scalar(text("SELECT UTC_TIMESTAMP(6)"))
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)

    async def _executors(self, engine: AsyncEngine) -> Finding:
        async with engine.connect() as connection:
            now = await self._db_now(connection)
            query = select(TaskFunction.name, TaskFunction.last_seen_at)
            rows = (await _timed(connection.execute(query))).all()
        seen = [(str(name), _utc(at)) for name, at in rows]
        return judge_executors(seen, now, self.settings.task_function_ttl_seconds)

    async def _outbox(self, engine: AsyncEngine) -> Finding:
        from tickwork_planner.relay import outbox_backlog

        backlog = await _timed(outbox_backlog(create_session_factory(engine)))
        allowed = (
            self.settings.relay_delay_seconds
            + self.settings.relay_interval_seconds
            + OUTBOX_GRACE_SECONDS
        )
        return judge_outbox(backlog.count, backlog.oldest_age_seconds, allowed)

    async def _stale(self, engine: AsyncEngine) -> Finding:
        from tickwork_api.repositories.jobs import is_stale

        sessions = create_session_factory(engine)
        async with sessions() as session:
            where = (ScheduledJob.is_active == true(), is_stale(session))
            count = await _timed(session.scalar(select(func.count()).where(*where)))
            names = (
                await session.scalars(
                    select(ScheduledJob.name).where(*where).order_by(ScheduledJob.id).limit(5)
                )
            ).all()
        return judge_stale(list(names), int(count or 0))

    async def broker(self) -> None:
        connection: Any = None

        async def reachable() -> Finding:
            nonlocal connection
            try:
                connection = await connect_broker(self.settings, "tickwork doctor")
            except Exception as error:
                return failed("rabbitmq", classify_bus_error(error).reason)
            return passed("rabbitmq", f"reachable at {_safe_url(self.settings.amqp_url)}")

        await self.run("rabbitmq", reachable)
        try:
            await self.run("topology", lambda: _topology(connection), "rabbitmq")
            await self.run("permissions", lambda: _permissions(connection), "rabbitmq")
        finally:
            if connection is not None:
                await connection.close()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _isolation(connection: AsyncConnection) -> str:
    for variable in ("@@transaction_isolation", "@@tx_isolation"):
        try:
            return str(await connection.scalar(text(f"SELECT {variable}")))
        except Exception:  # noqa: S112 - the other name, on the other MariaDB versions
            continue
    return "unknown"


async def _topology(connection: Any) -> Finding:
    """Every exchange and queue of the topology exists (passive declarations)."""
    from tickwork_shared.bus.topology import EXCHANGES, QUEUES

    missing: list[str] = []
    for name, kind in [*((e, "exchange") for e in EXCHANGES), *((q.name, "queue") for q in QUEUES)]:
        channel = await connection.channel()
        try:
            if kind == "exchange":
                await _timed(channel.get_exchange(name, ensure=True))
            else:
                await _timed(channel.get_queue(name, ensure=True))
        except Exception:
            missing.append(name)
        finally:
            if not channel.is_closed:
                await channel.close()
    if missing:
        return failed(
            "topology",
            "missing: " + ", ".join(missing),
            "start any tickwork service: each declares the whole topology at start",
        )
    return passed("topology", f"{len(EXCHANGES)} exchanges and {len(QUEUES)} queues present")


async def _permissions(connection: Any) -> Finding:
    """Declare a private queue, publish to it with a confirm, read the message back."""
    import aio_pika

    channel = await connection.channel(publisher_confirms=True)
    try:
        queue = await _timed(
            channel.declare_queue(f"tickwork.doctor.{uuid.uuid4().hex}", exclusive=True)
        )
        body = uuid.uuid4().bytes
        await _timed(
            channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue.name)
        )
        message = None
        for _ in range(20):
            message = await queue.get(fail=False, no_ack=True)
            if message is not None:
                break
            await asyncio.sleep(0.05)
        await queue.delete(if_unused=False, if_empty=False)
    except Exception as error:
        return failed(
            "permissions",
            classify_bus_error(error).reason,
            "rabbitmqctl set_permissions -p <vhost> <user> '.*' '.*' '.*'",
        )
    finally:
        if not channel.is_closed:
            await channel.close()
    if message is None or message.body != body:
        return failed("permissions", "a published message did not come back")
    return passed("permissions", "may declare, publish and read")


async def diagnose(environ: dict[str, str]) -> list[Finding]:
    try:
        settings = load_settings()
    except SettingsInvalid as error:
        return [failed("settings", "; ".join(error.problems), "fix the variables named")]
    doctor = _Doctor(settings)
    doctor.findings.append(passed("settings", "valid"))
    typos = unknown_variables(environ, Settings)
    if typos:
        doctor.findings.append(failed("environment", "; ".join(typos), "rename or remove it"))
    else:
        doctor.findings.append(passed("environment", "no unknown TICKWORK_* variables"))
    try:
        engine = create_engine(settings.database_url, pool_size=1)
    except Exception as error:
        doctor.findings.append(failed("database", classify_database_error(error).reason))
    else:
        try:
            await doctor.database(engine)
        finally:
            await engine.dispose()
    if not settings.is_sqlite:
        await doctor.broker()
    return doctor.findings


def render_table(findings: list[Finding]) -> str:
    width = max(len(finding.check) for finding in findings)
    lines = []
    for finding in findings:
        lines.append(f"{MARKS[finding.status]} {finding.check:<{width}}  {finding.detail}")
        if finding.fix:
            lines.append(f"  {'':<{width}}  fix: {finding.fix}")
    failures = sum(finding.status is Status.FAILED for finding in findings)
    if not failures:
        lines.append("all checks passed")
    else:
        lines.append(f"{failures} check{'s' if failures > 1 else ''} failed")
    return "\n".join(lines)


def render_json(findings: list[Finding]) -> str:
    ok = not any(finding.status is Status.FAILED for finding in findings)
    body = {"ok": ok, "checks": [asdict(finding) for finding in findings]}
    return orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()


def doctor_command(output: str) -> int:
    """Print the findings (a table, or JSON with `-o json`); 0 when every check passed."""
    logging.basicConfig(level=logging.CRITICAL)
    findings = asyncio.run(diagnose(dict(os.environ)))
    print(render_json(findings) if output == "json" else render_table(findings))
    sys.stdout.flush()
    return 1 if any(finding.status is Status.FAILED for finding in findings) else 0
