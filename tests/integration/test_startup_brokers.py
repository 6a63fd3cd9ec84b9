"""The start-up check and `tickwork doctor` reach a cluster through any node it names.

`TICKWORK_AMQP_URL` may list every node; the check connects to the first that answers, so
a dead first node does not stop a service from starting.
"""

from __future__ import annotations

import pytest
from tickwork_shared.settings import Settings
from tickwork_shared.startup import check_bus, connect_broker

from tests.harness.processes import free_port


async def test_a_dead_first_broker_is_passed_over(amqp_url: str) -> None:
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    settings = Settings(amqp_url=f"{dead},{amqp_url}")
    await check_bus(settings)  # declares the topology through the second URL


async def test_no_broker_answering_raises_the_last_error() -> None:
    dead = [f"amqp://guest:guest@127.0.0.1:{free_port()}/" for _ in range(2)]
    with pytest.raises(ConnectionError):
        await connect_broker(Settings(amqp_url=",".join(dead)), "test")
