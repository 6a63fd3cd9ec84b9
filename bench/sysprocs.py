"""CPU of the processes that share the machine with tickwork: MariaDB and RabbitMQ."""

from __future__ import annotations

import contextlib
import subprocess

from bench.infra import cpu_seconds


def _pids(name: str) -> list[int]:
    found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


def infrastructure() -> dict[str, list[int]]:
    return {
        "mariadb": _pids("mariadbd") or _pids("mysqld"),
        "rabbitmq": _pids("beam.smp"),
    }


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


class CpuMeter:
    """CPU seconds used by named groups of pids between `start()` and `stop()`."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self._before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._before = {name: cpu_of(pids) for name, pids in self.groups.items()}

    def stop(self) -> dict[str, float]:
        self.used = {name: cpu_of(pids) - self._before[name] for name, pids in self.groups.items()}
        return self.used
