"""What every server process of the rig needs, RabbitMQ node or mariadbd: a free port, a
check that it answers, and (`ServerProcess`) whether it runs, a clean stop, a kill of its
whole process group, the tail of its log."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import ClassVar

START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def kill_group(popen: subprocess.Popen[bytes], signum: int) -> None:
    """`signum` to the process's whole group (the servers start in a session of their
    own); a group already gone is no error."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signum)


class ServerProcess:
    """What a rig server started in a process group of its own can be asked and told,
    RabbitMQ node or mariadbd alike."""

    process: subprocess.Popen[bytes] | None
    folder: Path
    log_name: ClassVar[str]
    """The server's log, in `folder`."""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL of the server's whole process group (no goodbye to a cluster or a
        replica)."""
        if self.process is not None:
            kill_group(self.process, signal.SIGKILL)
            self.process.wait(30)

    def terminate(self, timeout: float, *, whole_group: bool) -> None:
        """SIGTERM to the server (or to its whole process group), SIGKILL if it has not
        exited after `timeout` seconds; nothing if it is not running."""
        if self.process is None or not self.alive():
            return
        if whole_group:
            kill_group(self.process, signal.SIGTERM)
        else:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.folder / self.log_name, lines)


def run_tool(
    args: list[str],
    failure: str,
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> str:
    """Run a server's command-line tool (`rabbitmqctl`, `mariadb`…) to its end; its
    stdout, or RuntimeError("<failure>: <its stderr>") when it exits non-zero."""
    done = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{failure}: {done.stderr.strip()}")
    return done.stdout


def log_tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a server's log, for the error that says it exited
    ("" before it wrote one)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
