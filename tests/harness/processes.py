"""Start tickwork as a user would — `.venv/bin/tickwork <command>` processes — and clean up.

Each process logs to its own file; `Stack.logs()` gathers them for a failing test's report.
No process outlives its `Stack`: `stop_all` sends SIGTERM, then SIGKILL after a grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TICKWORK = str(Path(sys.executable).parent / "tickwork")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def connections_env(database_url: str, amqp_url: str) -> dict[str, str]:
    """Where a tickwork process finds its database and its broker."""
    return {"TICKWORK_DATABASE_URL": database_url, "TICKWORK_AMQP_URL": amqp_url}


def services_env(database_url: str, amqp_url: str, api_port: int) -> dict[str, str]:
    """What every service of a local stack is given: its database, its broker, and the
    api's port, on loopback only."""
    return {
        **connections_env(database_url, amqp_url),
        "TICKWORK_API_PORT": str(api_port),
        "TICKWORK_API_HOST": "127.0.0.1",
    }


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)


@dataclass
class Stack:
    """A set of tickwork processes sharing one environment and working folder."""

    env: dict[str, str]
    workdir: Path
    procs: list[Proc] = field(default_factory=list)
    tickwork: str = TICKWORK  # the `tickwork` command; the benchmarks use a runtime install

    def _env(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        env = {**os.environ, **self.env, **(extra or {})}
        env.pop("TICKWORK_INSTANCE_ID", None)  # each process names itself host:pid
        return env

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Proc:
        log = self.workdir / f"{name}.log"
        handle = log.open("ab")
        popen = subprocess.Popen(
            [self.tickwork, *args],
            cwd=self.workdir,
            env=self._env(env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        handle.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a command to completion (migrate, api-key create); raises with its output."""
        done = subprocess.run(
            [self.tickwork, *args],
            cwd=self.workdir,
            env=self._env(None),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"tickwork {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def create_key(self, name: str, role: str = "admin") -> str:
        """`tickwork api-key create`; the key it prints (on its last line)."""
        done = self.run("api-key", "create", "--name", name, "--role", role)
        return done.stdout.strip().splitlines()[-1].strip()

    def stop(self, proc: Proc, *, grace: float = 20) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within `grace`; its exit code."""
        if proc.alive():
            proc.signal(signal.SIGTERM)
            try:
                proc.popen.wait(grace)
            except subprocess.TimeoutExpired:
                proc.signal(signal.SIGKILL)
                proc.popen.wait(10)
        return proc.popen.returncode

    def kill(self, proc: Proc) -> None:
        proc.signal(signal.SIGKILL)
        proc.popen.wait(10)

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
            proc.signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.popen.wait(20)
            except subprocess.TimeoutExpired:
                proc.signal(signal.SIGKILL)
                proc.popen.wait(10)

    @contextlib.contextmanager
    def _logs_on_failure(self, tail_lines: int) -> Iterator[None]:
        """On a failure, every process's log printed (pytest shows a failed test's output)."""
        try:
            yield
        except BaseException:
            print(self.logs(tail_lines))
            raise

    @contextlib.contextmanager
    def running(self, *, tail_lines: int = 60) -> Iterator[Stack]:
        """Every process stopped on the way out; on a failure, their logs printed first."""
        try:
            with self._logs_on_failure(tail_lines):
                yield self
        finally:
            self.stop_all()

    @contextlib.asynccontextmanager
    async def running_async(self, *, tail_lines: int = 60) -> AsyncIterator[Stack]:
        """`running` for a test on the event loop: the processes are stopped in a thread, so
        the loop goes on serving (a proxy, a client) while they exit."""
        try:
            with self._logs_on_failure(tail_lines):
                yield self
        finally:
            await asyncio.to_thread(self.stop_all)

    def logs(self, tail_lines: int = 60) -> str:
        parts = []
        for proc in self.procs:
            lines = proc.log.read_text(errors="replace").splitlines()[-tail_lines:]
            parts.append(f"----- {proc.name} (pid {proc.pid}, exit {proc.popen.poll()})")
            parts.extend(lines)
        return "\n".join(parts)
