"""Pool names, their run queues, and `TICKWORK_EXECUTOR_POOLS` (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from tickwork_shared.bus.topology import RUNS_DEAD_QUEUE, RUNS_QUEUE, run_queue_spec
from tickwork_shared.outbox import RunRef
from tickwork_shared.pools import is_pool_name, parse_pools, run_queue_of
from tickwork_shared.settings import Settings


def test_default_pool_keeps_the_queue_of_before_pools() -> None:
    assert run_queue_of("default") == RUNS_QUEUE == "tickwork.runs"
    assert run_queue_of("gpu-2") == "tickwork.runs.gpu-2"


@pytest.mark.parametrize(
    "name", ["", "Gpu", "-gpu", "gpu.x", "gpu_x", "a" * 41, "dead", "gpu ", "é"]
)
def test_invalid_pool_names_are_refused(name: str) -> None:
    assert not is_pool_name(name)
    with pytest.raises(ValueError, match="pool"):
        run_queue_of(name)


def test_dead_letter_queue_is_no_pool_queue() -> None:
    # `dead` is reserved, so no pool's runs can land in (or be consumed from) it.
    with pytest.raises(ValueError, match="dead"):
        run_queue_of("dead")
    spec = run_queue_spec("gpu")
    assert spec.dead_letter_queue == RUNS_DEAD_QUEUE
    assert spec.arguments["x-dead-letter-routing-key"] == RUNS_DEAD_QUEUE
    assert spec.arguments == run_queue_spec("default").arguments


def test_parse_pools_keeps_order_and_drops_duplicates() -> None:
    assert parse_pools(" gpu, default ,gpu,,") == ["gpu", "default"]
    with pytest.raises(ValueError, match="Bad"):
        parse_pools("gpu,Bad")


def test_executor_pools_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().executor_pools == ["default"]
    monkeypatch.setenv("TICKWORK_EXECUTOR_POOLS", "gpu,vpn")
    assert Settings().executor_pools == ["gpu", "vpn"]
    monkeypatch.setenv("TICKWORK_EXECUTOR_POOLS", " , ")
    with pytest.raises(ValidationError, match="at least one pool"):
        Settings()
    monkeypatch.setenv("TICKWORK_EXECUTOR_POOLS", "dead")
    with pytest.raises(ValidationError, match="dead"):
        Settings()


def test_run_message_goes_to_its_pools_queue() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert RunRef(1, "e", 1, at, 1).message().routing_key == "tickwork.runs"
    assert RunRef(1, "e", 1, at, 1, "gpu").message().routing_key == "tickwork.runs.gpu"
