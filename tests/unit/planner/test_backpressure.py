"""The pool gate: which pools' jobs are held back, from the depths of their queues."""

from __future__ import annotations

import logging

import pytest
from tickwork_planner.backpressure import PoolGate
from tickwork_shared.errors import BusUnavailable


def test_a_pool_is_held_back_from_its_limit_and_released_below_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = PoolGate(limit=100, recheck=0.5)
    with caplog.at_level(logging.WARNING):
        gate.record("default", 99, now=0.0)
        assert gate.held_back == []
        gate.record("default", 100, now=1.0)
        gate.record("gpu", 250, now=1.0)
        assert gate.held_back == ["default", "gpu"]
        gate.record("default", 100, now=2.0)  # still held: said once, not again
        gate.record("default", 12, now=3.0)
        assert gate.held_back == ["gpu"]
    actions = [record.__dict__["action"] for record in caplog.records]
    assert actions == ["planner_pool_held_back", "planner_pool_held_back", "planner_pool_released"]


def test_depths_are_read_for_pools_published_to_or_held_back_at_most_every_recheck() -> None:
    gate = PoolGate(limit=10, recheck=0.5)
    assert gate.to_read([], now=0.0) == []
    assert gate.to_read(["default", "gpu"], now=0.0) == ["default", "gpu"]
    gate.record("default", 3, now=0.0)
    gate.record("gpu", 40, now=0.0)
    assert gate.to_read(["default"], now=0.4) == []  # read 0.4 s ago
    assert gate.to_read([], now=0.5) == ["gpu"]  # held back: read again though not published
    assert gate.to_read(["default"], now=0.5) == ["default", "gpu"]


async def test_a_broker_that_does_not_answer_leaves_the_last_reading() -> None:
    gate = PoolGate(limit=10, recheck=0.5)
    depths = {"default": 25, "gpu": 1}

    async def backlog(pool: str) -> int:
        if pool == "gpu":
            raise BusUnavailable("broker away")
        return depths[pool]

    gate.record("gpu", 30, now=0.0)
    await gate.read(backlog, ["default", "gpu"], now=1.0)
    assert gate.held_back == ["default", "gpu"]
