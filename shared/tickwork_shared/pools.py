"""Executor pools: names, and the run queue of each (pure; no I/O).

A pool is a set of executors that offer the same task functions (the GPU ones, those
with the VPN route...). Each pool has its own durable run queue, so a run is delivered
only to executors of its job's pool. The `default` pool keeps the queue name of the
time before pools (`tickwork.runs`), so runs queued before the upgrade still run.
"""

from __future__ import annotations

import re

DEFAULT_POOL = "default"
POOL_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,39}$"
_POOL_NAME = re.compile(POOL_NAME_PATTERN)
RUNS_QUEUE_PREFIX = "tickwork.runs"
RESERVED_POOL_NAMES = frozenset({"dead"})
"""`tickwork.runs.dead` is the dead-letter queue, not a pool's run queue."""


def is_pool_name(name: str) -> bool:
    """True for a valid pool name (lower-case letters, digits, `-`; up to 40; not `dead`)."""
    return _POOL_NAME.fullmatch(name) is not None and name not in RESERVED_POOL_NAMES


def run_queue_of(pool: str) -> str:
    """The run queue of `pool`: `tickwork.runs` for `default`, else `tickwork.runs.<pool>`.

    Raises `ValueError` for an invalid name, so a corrupt row can never name another
    tickwork queue (`dead` is reserved: `tickwork.runs.dead` is the dead-letter queue).
    """
    if not is_pool_name(pool):
        raise ValueError(f"invalid pool name {pool!r}")
    return RUNS_QUEUE_PREFIX if pool == DEFAULT_POOL else f"{RUNS_QUEUE_PREFIX}.{pool}"


def parse_pools(value: str) -> list[str]:
    """`TICKWORK_EXECUTOR_POOLS`: comma-separated names, duplicates dropped, order kept."""
    pools: list[str] = []
    for part in value.split(","):
        name = part.strip()
        if not name:
            continue
        if not is_pool_name(name):
            raise ValueError(f"invalid pool name {name!r} (expected {POOL_NAME_PATTERN})")
        if name not in pools:
            pools.append(name)
    return pools
