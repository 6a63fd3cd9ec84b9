"""The pool gate: which pools' jobs are held back, from the depths of their queues."""

from __future__ import annotations

import logging

import pytest
from tickwork_planner.backpressure import PoolGate
from tickwork_shared.bus.topology import QueueDepth
from tickwork_shared.errors import BusUnavailable


def test_a_pool_is_held_back_from_its_limit_and_released_below_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = PoolGate(per_executor=50, recheck=0.5)
    with caplog.at_level(logging.WARNING):
        gate.record("default", QueueDepth(99, 2), now=0.0)  # limit 2 x 50
        assert gate.held_back == []
        gate.record("default", QueueDepth(100, 2), now=1.0)
        gate.record("gpu", QueueDepth(50, 0), now=1.0)  # no executor: as one
        assert gate.held_back == ["default", "gpu"]
        gate.record("default", QueueDepth(100, 2), now=2.0)  # still held: said once, not again
        gate.record("default", QueueDepth(100, 3), now=3.0)  # a third executor came
        assert gate.held_back == ["gpu"]
    actions = [record.__dict__["action"] for record in caplog.records]
    assert actions == ["planner_pool_held_back", "planner_pool_held_back", "planner_pool_released"]


def test_depths_are_read_for_pools_published_to_or_held_back_at_most_every_recheck() -> None:
    gate = PoolGate(per_executor=10, recheck=0.5)
    assert gate.to_read([], now=0.0) == []
    assert gate.to_read(["default", "gpu"], now=0.0) == ["default", "gpu"]
    gate.record("default", QueueDepth(3, 1), now=0.0)
    gate.record("gpu", QueueDepth(40, 1), now=0.0)
    assert gate.to_read(["default"], now=0.4) == []  # read 0.4 s ago
    assert gate.to_read([], now=0.5) == ["gpu"]  # held back: read again though not published
    assert gate.to_read(["default"], now=0.5) == ["default", "gpu"]


async def test_a_broker_that_does_not_answer_leaves_the_last_reading() -> None:
    gate = PoolGate(per_executor=10, recheck=0.5)
    depths = {"default": QueueDepth(25, 1), "gpu": QueueDepth(1, 1)}

    async def backlog(pool: str) -> QueueDepth:
        if pool == "gpu":
            raise BusUnavailable("broker away")
        return depths[pool]

    gate.record("gpu", QueueDepth(30, 1), now=0.0)
    await gate.read(backlog, ["default", "gpu"], now=1.0)
    assert gate.held_back == ["default", "gpu"]
