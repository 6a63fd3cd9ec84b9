"""`GET /pools` and `isAlive` from executor rows and queued counts (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tickwork_api.services.pools import executor_public, summarize_pools
from tickwork_shared.db.models import Executor

from tests.factories import executor_row

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DEAD_AFTER = timedelta(seconds=30)


def _executor(name: str, pools: list[str], seen_ago: float, slots: int, busy: int) -> Executor:
    return executor_row(name, pools, now=NOW, seen_ago=seen_ago, slots=slots, busy=busy)


def test_an_executor_is_dead_once_not_heard_from_for_the_stated_time() -> None:
    assert executor_public(_executor("a", ["default"], 30, 4, 0), NOW, DEAD_AFTER).is_alive
    assert not executor_public(_executor("a", ["default"], 30.1, 4, 0), NOW, DEAD_AFTER).is_alive


def test_pools_count_only_live_executors_and_list_every_known_pool() -> None:
    executors = [
        _executor("a", ["default", "gpu"], 1, 8, 3),
        _executor("b", ["gpu"], 2, 4, 4),
        _executor("gone", ["gpu", "vpn"], 300, 16, 16),
    ]
    oldest = NOW - timedelta(minutes=5)
    pools = summarize_pools(
        executors, {"gpu": (7, oldest), "lonely": (2, oldest)}, {"offered"}, NOW, DEAD_AFTER
    )
    by_name = {pool.name: pool for pool in pools}
    assert [pool.name for pool in pools] == ["default", "gpu", "lonely", "offered", "vpn"]
    gpu = by_name["gpu"]
    assert (gpu.executors, gpu.capacity, gpu.in_flight, gpu.queued) == (2, 12, 7, 7)
    assert gpu.oldest_queued_at == oldest
    vpn = by_name["vpn"]  # only a dead executor serves it
    assert (vpn.executors, vpn.capacity, vpn.in_flight, vpn.queued) == (0, 0, 0, 0)
    assert vpn.oldest_queued_at is None
    assert by_name["lonely"].queued == 2
    assert by_name["lonely"].executors == 0
