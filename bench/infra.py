"""What every benchmark needs: its own database and vhost, tickwork processes, /proc figures.

Each benchmark gets a database `tickwork_bench_<label>_<hex>` (migrated, dropped at the
end) and a RabbitMQ vhost of its own (added and deleted with rabbitmqctl), so it never
sees another run's rows or messages. Processes are started as a user would
(`tickwork <command>`) through the test harness's `Stack`, from a runtime install made for
the run (see `runtime_tickwork`).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from tickwork_shared.migrate import upgrade_to_head

from tests.fixtures.database import empty_database
from tests.harness.install import install_into_new_venv
from tests.harness.processes import Proc, Stack, free_port
from tests.harness.waiting import wait_until

SERVER_URL = os.environ.get("TICKWORK_BENCH_DATABASE_URL", "mysql+asyncmy://root@127.0.0.1:3306/")
AMQP_BASE = os.environ.get("TICKWORK_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
ROOT = Path(__file__).resolve().parents[1]
PROBE_DIR = ROOT / "bench" / "probe"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@functools.cache
def runtime_tickwork() -> str:
    """`tickwork` installed as deploy/Dockerfile installs it, in a venv of its own: the
    packages non-editable with their runtime dependencies only.

    Why not `.venv`: it also holds the test tools, and one of them brings `cryptography`,
    which asyncmy imports whenever it is installed — ≈ 8 MiB more in every service than
    in what users run. Built once per benchmark run (a few seconds), removed at exit.
    """
    folder = Path(tempfile.mkdtemp(prefix="tickwork-bench-runtime-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    venv = folder / "venv"
    log("installing tickwork into a runtime-only venv (as the image does)")
    # Built from a copy: a non-editable build leaves `build/` folders in its sources.
    sources = folder / "src"
    skip = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    for part in ("shared", "services", "clients", "tickwork"):
        shutil.copytree(ROOT / part, sources / part, ignore=skip)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / part, sources / part)
    packages = [
        "./shared",
        "./services/api",
        "./services/planner",
        "./services/executor",
        "./clients/python",
        ".",
    ]
    installed = install_into_new_venv(venv, packages, cwd=sources)
    if installed.returncode != 0:
        raise RuntimeError(f"runtime install failed:\n{installed.stderr}")
    return str(venv / "bin" / "tickwork")


def log(message: str) -> None:
    """Progress for the person watching, on stderr (stdout holds only figures)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def figure(name: str, value: float | str, unit: str) -> None:
    """One result line: `name value unit`."""
    shown = f"{value:.6g}" if isinstance(value, float) else str(value)
    print(f"{name} {shown} {unit}", flush=True)


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "--quiet", *args], check=True, capture_output=True)


@dataclass
class Place:
    """A database and a vhost of one benchmark, and an engine on the database."""

    database_url: str
    amqp_url: str
    vhost: str
    engine: AsyncEngine
    workdir: Path

    def stack(self, **extra: str) -> Stack:
        env = {
            "TICKWORK_DATABASE_URL": self.database_url,
            "TICKWORK_AMQP_URL": self.amqp_url,
            "TICKWORK_LOG_FORMAT": "json",
            "PYTHONPATH": os.pathsep.join(
                [str(PROBE_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            **extra,
        }
        return Stack(env=env, workdir=self.workdir, tickwork=runtime_tickwork())

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as connection:
            return list((await connection.execute(text(sql), params)).all())

    async def execute(self, *statements: str, **params: Any) -> None:
        async with self.engine.begin() as connection:
            for sql in statements:
                await connection.execute(text(sql), params)

    async def queue_consumers(self, queue: str) -> int:
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel()
            declared = await channel.declare_queue(queue, passive=True)
            return int(declared.declaration_result.consumer_count or 0)
        finally:
            await connection.close()


@asynccontextmanager
async def place(label: str) -> AsyncIterator[Place]:
    """A migrated database and an empty vhost for one benchmark, removed afterwards."""
    vhost = f"tickwork_bench_{label}_{secrets.token_hex(4)}"
    async with empty_database(SERVER_URL, f"bench_{label}") as database_url:
        _ctl("add_vhost", vhost)
        _ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        engine = create_async_engine(database_url, isolation_level="READ COMMITTED", pool_size=4)
        workdir = Path(tempfile.mkdtemp(prefix=f"tickwork-bench-{label}-"))
        try:
            await asyncio.to_thread(upgrade_to_head, database_url)
            yield Place(database_url, AMQP_BASE.rstrip("/") + "/" + vhost, vhost, engine, workdir)
        finally:
            await engine.dispose()
            subprocess.run(["rabbitmqctl", "--quiet", "delete_vhost", vhost], capture_output=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` in MiB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """Samples the peak resident memory of some processes in the background."""

    def __init__(self, procs: dict[str, Proc]) -> None:
        self.procs = procs
        self.peak = {name: 0.0 for name in procs}
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        for name, proc in self.procs.items():
            if proc.alive():
                self.peak[name] = max(self.peak[name], rss_mb(proc.pid))

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.25)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.sample()


def probe_totals(prefix: str) -> dict[str, int]:
    """Sum of the database counters every probed process with `prefix` wrote."""
    totals: dict[str, int] = {}
    folder = Path(prefix).parent
    for path in folder.glob(Path(prefix).name + ".*.json"):
        for key, value in json.loads(path.read_text()).items():
            totals[key] = totals.get(key, 0) + int(value)
    return totals


async def start_api(stack: Stack, name: str = "api") -> tuple[Proc, str]:
    """Start an api process on a free port and wait for /ready; (process, base url)."""
    import httpx

    port = free_port()
    proc = stack.start(name, "api", env={"TICKWORK_API_PORT": str(port)})
    base = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        if not proc.alive():
            raise RuntimeError(f"api exited:\n{stack.logs()}")
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(base + "/ready", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(ready, timeout=60, interval=0.2, what="api /ready")
    return proc, base


def api_key(stack: Stack) -> str:
    return stack.create_key(f"bench-{secrets.token_hex(3)}")


async def wait_consumers(place_: Place, count: int, stack: Stack) -> None:
    from tickwork_shared.bus.topology import RUNS_QUEUE

    async def enough() -> bool:
        for proc in stack.procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{stack.logs()}")
        try:
            return await place_.queue_consumers(RUNS_QUEUE) >= count
        except Exception:
            return False

    await wait_until(enough, timeout=90, interval=0.3, what=f"{count} executors consuming")


def machine_load() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 3)[0]


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]
