"""The built-in task functions, called as the executor calls them (a local HTTP server and
the in-process bus stand in for the outside world)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tickwork_executor.builtins import builtin_functions
from tickwork_executor.errors import TaskFailed
from tickwork_executor.tasks import RunContext, TaskRegistry, spec_of
from tickwork_shared.bus import MemoryBus
from tickwork_shared.bus.abc import Delivery

CONTEXT = RunContext("e-1", 4, datetime(2026, 5, 1, tzinfo=UTC), 2, "4:s:2026-05-01T00:00:00Z")


@pytest.fixture
async def registry() -> AsyncIterator[tuple[TaskRegistry, MemoryBus]]:
    async with MemoryBus() as bus:
        yield TaskRegistry(spec_of(f) for f in builtin_functions(bus)), bus


async def call(registry: TaskRegistry, name: str, args: dict[str, Any]) -> Any:
    spec = registry.get(name)
    assert spec is not None
    return await spec.func(**spec.bind(args, CONTEXT))


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


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        status = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/status/") else 200
        payload = json.dumps({"ok": status < 400}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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
    [request] = _Recorder.seen
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
    assert _Recorder.seen[0]["headers"]["idempotency-key"] == "mine"


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
    async with asyncio.timeout(2):
        while len(received) < 2:
            await asyncio.sleep(0.01)
    assert [d.body for d in received] == [b'{"n":1}', b"plain"]
    assert received[0].message_id == CONTEXT.idempotency_key
