"""The built-in task functions, called as the executor calls them (a local HTTP server and
the in-process bus stand in for the outside world): their names and parameters, and what
each does with its arguments. Their trust boundary is in `test_builtin_boundaries.py`."""

from __future__ import annotations

import json

import pytest
from tickwork_executor.errors import TaskFailed
from tickwork_executor.tasks import TaskRegistry
from tickwork_shared.bus import MemoryBus
from tickwork_shared.bus.abc import Delivery

from tests.harness.waiting import wait_until
from tests.unit.executor.builtin_calls import CONTEXT, call
from tests.unit.executor.http_servers import Recorder


def test_builtins_have_the_api_names_and_parameters(
    registry: tuple[TaskRegistry, MemoryBus],
) -> None:
    functions = registry[0]
    assert functions.names == [
        "amqp.publish",
        "http.request",
        "tickwork.fail",
        "tickwork.noop",
        "tickwork.sleep",
    ]
    properties = {spec.name: spec.params_schema["properties"] for spec in functions}
    assert properties["tickwork.noop"] == {}
    assert properties["tickwork.sleep"]["seconds"]["type"] == "number"
    assert properties["tickwork.fail"]["message"]["type"] == "string"
    assert set(properties["http.request"]) == {
        "url",
        "method",
        "headers",
        "json",
        "timeoutSeconds",
        "expectStatus",
    }
    assert set(properties["amqp.publish"]) == {"exchange", "routingKey", "body"}
    required = {spec.name: spec.params_schema.get("required", []) for spec in functions}
    assert required["http.request"] == ["url"]
    assert required["amqp.publish"] == ["exchange", "routingKey", "body"]


async def test_noop_sleep_and_fail(registry: tuple[TaskRegistry, MemoryBus]) -> None:
    functions = registry[0]
    assert await call(functions, "tickwork.noop", {}) is None
    assert await call(functions, "tickwork.sleep", {"seconds": 0.01}) == {"slept": 0.01}
    with pytest.raises(TaskFailed, match=r"^drill$"):
        await call(functions, "tickwork.fail", {"message": "drill"})


async def test_http_request_sends_json_and_the_idempotency_key(
    registry: tuple[TaskRegistry, MemoryBus], http_server: str
) -> None:
    result = await call(
        registry[0],
        "http.request",
        {
            "url": f"{http_server}/hook",
            "method": "POST",
            "json": {"a": 1},
            "headers": {"X-Team": "ops"},
        },
    )
    assert result == {"status": 200, "body": {"ok": True}}
    [request] = Recorder.seen
    assert request["method"] == "POST"
    assert request["headers"]["Idempotency-Key"] == CONTEXT.idempotency_key
    assert request["headers"]["X-Team"] == "ops"
    assert json.loads(request["body"]) == {"a": 1}


async def test_http_request_keeps_a_caller_idempotency_key(
    registry: tuple[TaskRegistry, MemoryBus], http_server: str
) -> None:
    await call(
        registry[0],
        "http.request",
        {"url": f"{http_server}/x", "headers": {"idempotency-key": "mine"}},
    )
    assert Recorder.seen[0]["headers"]["idempotency-key"] == "mine"


async def test_http_request_fails_on_an_unexpected_status(
    registry: tuple[TaskRegistry, MemoryBus], http_server: str
) -> None:
    with pytest.raises(TaskFailed, match="answered 503"):
        await call(registry[0], "http.request", {"url": f"{http_server}/status/503"})
    accepted = await call(
        registry[0], "http.request", {"url": f"{http_server}/status/404", "expectStatus": [404]}
    )
    assert accepted["status"] == 404
    with pytest.raises(TaskFailed, match="expected 201"):
        await call(registry[0], "http.request", {"url": f"{http_server}/x", "expectStatus": 201})


async def test_http_request_fails_on_a_network_error(
    registry: tuple[TaskRegistry, MemoryBus],
) -> None:
    import httpx

    with pytest.raises(httpx.ConnectError):
        await call(registry[0], "http.request", {"url": "http://127.0.0.1:1/", "timeoutSeconds": 2})


async def test_amqp_publish_goes_through_the_executors_bus(
    registry: tuple[TaskRegistry, MemoryBus],
) -> None:
    functions, bus = registry
    received: list[Delivery] = []

    async def listen(delivery: Delivery) -> None:
        received.append(delivery)

    await bus.subscribe("tickwork.commands", ["reports.#"], listen)
    result = await call(
        functions,
        "amqp.publish",
        {"exchange": "tickwork.commands", "routingKey": "reports.done", "body": {"n": 1}},
    )
    await call(
        functions,
        "amqp.publish",
        {"exchange": "tickwork.commands", "routingKey": "reports.text", "body": "plain"},
    )
    assert result == {"exchange": "tickwork.commands", "routingKey": "reports.done", "bytes": 7}
    await wait_until(lambda: len(received) >= 2, timeout=2, interval=0.01, what="both publishes")
    assert [d.body for d in received] == [b'{"n":1}', b"plain"]
    assert received[0].message_id == CONTEXT.idempotency_key
