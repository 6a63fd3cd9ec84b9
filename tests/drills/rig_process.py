"""What every server process of the rig needs, RabbitMQ node or mariadbd: a free port, a
check that it answers, a kill of its whole process group, the tail of its log."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from pathlib import Path

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


def log_tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a server's log, for the error that says it exited
    ("" before it wrote one)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
