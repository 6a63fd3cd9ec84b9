"""`Drill`: a running drill's tickwork (started by `launch.open_drill`) and what a drill
does with it: processes started and broken, the load, the database clock, the audit and
the figures.

Blocking calls into `Stack` (stop, kill) run in a thread: the proxies live on the test's
event loop and must keep forwarding meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import ColumnElement, Row, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from tickwork_shared.db.models import JobExecution

from tests.drills import plugin
from tests.drills.audit import Audit, Rules, audit
from tests.drills.ledger import ledger_in
from tests.drills.tasks import TASK_NAME
from tests.harness.api_client import Api
from tests.harness.processes import Proc, Stack
from tests.harness.tcp_proxy import TcpProxy
from tests.harness.waiting import wait_until


@dataclass
class Proxies:
    """The TCP proxies the services reach MariaDB and RabbitMQ through, where the drill's
    `Topology` asks for them (cutting one is the drill's fault)."""

    database: TcpProxy | None = None
    bus: TcpProxy | None = None

    async def close(self) -> None:
        for proxy in (self.database, self.bus):
            if proxy is not None:
                await proxy.close()


@dataclass
class Drill:
    name: str
    config: pytest.Config
    stack: Stack
    api: Api
    engine: AsyncEngine
    """Direct (never proxied) read access for the audit and fault marks."""
    proxies: Proxies
    amqp_url: str
    """Direct (never proxied) broker URL, for injecting messages."""
    planners: list[Proc] = field(default_factory=list)
    executors: list[Proc] = field(default_factory=list)
    job_ids: list[int] = field(default_factory=list)
    _serial: int = 0

    @property
    def ledger(self) -> Path:
        """The side-effect ledger the drill's tasks write (`tests.drills.tasks`)."""
        return ledger_in(self.stack.workdir)

    # -- processes ---------------------------------------------------------------------

    async def start_executor(self, *, wait: bool = True, env: dict[str, str] | None = None) -> Proc:
        """An executor; `env` adds settings (e.g. `TICKWORK_EXECUTOR_POOLS`)."""
        proc = self._start("executor", env)
        self.executors.append(proc)
        if wait:
            await self.wait_log(proc, "executor_started")
        return proc

    async def start_planner(self, *, wait: bool = True) -> Proc:
        proc = self._start("planner")
        self.planners.append(proc)
        if wait:
            await self.wait_log(proc, "planner_started")
        return proc

    def _start(self, role: str, env: dict[str, str] | None = None) -> Proc:
        self._serial += 1
        return self.stack.start(f"{role}-{self._serial}", role, env=env)

    async def kill(self, proc: Proc) -> None:
        """SIGKILL, and wait for it to be gone."""
        await asyncio.to_thread(self.stack.kill, proc)
        self._forget(proc)

    async def stop(self, proc: Proc, grace: float = 30) -> int | None:
        """SIGTERM and wait for the exit (SIGKILL after `grace`); the exit code."""
        code = await asyncio.to_thread(self.stack.stop, proc, grace=grace)
        self._forget(proc)
        return code

    def _forget(self, proc: Proc) -> None:
        for group in (self.executors, self.planners):
            if proc in group:
                group.remove(proc)

    @staticmethod
    def executor_id(proc: Proc) -> str:
        """The id a process started by `Stack` gives itself (`host:pid`)."""
        return f"{socket.gethostname()}:{proc.pid}"

    @staticmethod
    def log_entries(proc: Proc, action: str | None = None) -> list[dict[str, Any]]:
        entries = []
        for line in proc.log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and (action is None or entry.get("action") == action):
                entries.append(entry)
        return entries

    async def wait_log(self, proc: Proc, action: str, timeout: float = 60) -> dict[str, Any]:
        async def logged() -> dict[str, Any] | None:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited ({proc.popen.returncode})")
            found = self.log_entries(proc, action)
            return found[-1] if found else None

        return await wait_until(logged, timeout=timeout, what=f"{proc.name} to log {action}")

    # -- time ---------------------------------------------------------------------------

    async def now(self) -> datetime:
        """The database clock (the clock every row is stamped with)."""
        async with self.engine.connect() as connection:
            value = (await connection.execute(text("SELECT UTC_TIMESTAMP(6)"))).scalar_one()
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)

    # -- load ---------------------------------------------------------------------------

    async def create_load(
        self,
        count: int,
        *,
        interval: int = 1,
        task_seconds: tuple[float, ...] = (0.2, 0.5, 0.8),
        parallel: int = 8,
        **fields: Any,
    ) -> list[int]:
        """`count` interval jobs of the drill task, fire times spread across the interval.

        Overlap `allow` (a slow run never turns the next one into a skip), two retries
        one second apart, unless `fields` say otherwise.
        """
        base = datetime.now(UTC).replace(microsecond=0)
        gate = asyncio.Semaphore(parallel)

        async def create(index: int) -> int:
            start = base + timedelta(seconds=interval * (index % 10) / 10)
            body = {
                "schedule": {"kind": "interval", "seconds": interval, "startAt": start.isoformat()},
                "taskFunction": TASK_NAME,
                "args": {"seconds": task_seconds[index % len(task_seconds)]},
                "overlapPolicy": "allow",
                "maxRetries": 2,
                "retryBackoffSeconds": 1,
                "timeoutSeconds": 60,
                **fields,
            }
            async with gate:
                job = await self.api.create_job(f"{self.name}-{len(self.job_ids)}-{index}", **body)
            return int(job["id"])

        ids = list(await asyncio.gather(*(create(i) for i in range(count))))
        self.job_ids.extend(ids)
        return ids

    async def executions(self, *conditions: ColumnElement[bool]) -> list[Row[Any]]:
        """Execution rows matching `conditions` (aware datetimes, like the services')."""
        async with self.engine.connect() as connection:
            result = await connection.execute(select(JobExecution.__table__).where(*conditions))
            return list(result.all())

    async def count(self, *conditions: ColumnElement[bool]) -> int:
        async with self.engine.connect() as connection:
            query = select(func.count()).select_from(JobExecution).where(*conditions)
            return int((await connection.execute(query)).scalar_one())

    async def wait_runs(self, count: int, *, since: datetime, timeout: float = 60) -> None:
        """Wait until `count` runs scheduled after `since` have succeeded."""

        async def enough() -> bool:
            done = await self.count(
                JobExecution.status == "succeeded", JobExecution.scheduled_at > since
            )
            return done >= count

        await wait_until(enough, timeout=timeout, what=f"{count} runs to succeed")

    async def running_on(self, proc: Proc) -> list[Row[Any]]:
        """Executions `running` on the executor `proc` right now."""
        return await self.executions(
            JobExecution.status == "running", JobExecution.executor_id == self.executor_id(proc)
        )

    # -- audit --------------------------------------------------------------------------

    async def audit(self, rules: Rules, job_ids: list[int] | None = None) -> Audit:
        return await audit(self.engine, job_ids or self.job_ids, rules, self.ledger)

    async def settled_audit(
        self, rules: Rules, *, timeout: float = 60, job_ids: list[int] | None = None
    ) -> Audit:
        """The audit once nothing audited is lost or stuck, or `timeout` has passed."""
        deadline = time.monotonic() + timeout
        ids = job_ids or self.job_ids
        while True:
            # A cheap count first: a full audit of a big load is not free.
            unfinished = await self.count(
                JobExecution.job_id.in_(ids),
                JobExecution.status.in_(["queued", "running"]),
                JobExecution.scheduled_at <= rules.until,
            )
            if not unfinished or time.monotonic() > deadline:
                report = await self.audit(rules, ids)
                if report.settled or time.monotonic() > deadline:
                    return report
            await asyncio.sleep(1 if unfinished < 1000 else 5)

    def figure(self, name: str, value: float | str, unit: str, *, drill: str | None = None) -> None:
        """Print `drill.<drill>.<name> <value> <unit>` now (past capture) and in the summary."""
        line = f"drill.{drill or self.name}.{name} {value} {unit}"
        plugin.record_figure(self.config, line)
        plugin.print_live(self.config, line)

    def report(
        self, report: Audit, *, drill: str | None = None, **extra: tuple[float | str, str]
    ) -> None:
        """Print the audit's figures and `extra` ones (name=(value, unit))."""
        for name, value, unit in report.figures():
            self.figure(name, value, unit, drill=drill)
        for name, (extra_value, extra_unit) in extra.items():
            self.figure(name, extra_value, extra_unit, drill=drill)

    def assert_clean(self, report: Audit) -> None:
        problems = report.problems
        assert not problems, "\n".join(problems) + "\n" + self.stack.logs(30)
