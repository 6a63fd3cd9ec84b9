"""The built-in task functions, called as the executor calls them (a local HTTP server and
the in-process bus stand in for the outside world)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tickwork_executor.errors import EgressDenied, PublishDenied, ResponseTooLarge, TaskFailed
from tickwork_executor.run.builtins import Boundaries, builtin_functions
from tickwork_executor.run.http_limits import HttpLimits
from tickwork_executor.tasks import RunContext, TaskRegistry, spec_of
from tickwork_shared.bus import MemoryBus
from tickwork_shared.bus.abc import Delivery
from tickwork_shared.egress import EgressPolicy, IPAddress

from tests.harness.waiting import wait_until

CONTEXT = RunContext("e-1", 4, datetime(2026, 5, 1, tzinfo=UTC), 2, "4:s:2026-05-01T00:00:00Z")
# The local test server lives on loopback, which the egress policy refuses by default.
LOCAL = Boundaries(
    http=HttpLimits(policy=EgressPolicy.parse(["127.0.0.1"])),
    publish_allow=frozenset({"tickwork.commands"}),
)


@pytest.fixture
async def registry() -> AsyncIterator[tuple[TaskRegistry, MemoryBus]]:
    async with MemoryBus() as bus:
        yield TaskRegistry(spec_of(f) for f in builtin_functions(bus, LOCAL)), bus


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
    await wait_until(lambda: len(received) >= 2, timeout=2, interval=0.01, what="both publishes")
    assert [d.body for d in received] == [b'{"n":1}', b"plain"]
    assert received[0].message_id == CONTEXT.idempotency_key


# -- the trust boundary (issue 14) -------------------------------------------------------


def _registry_with(bus: MemoryBus, boundaries: Boundaries | None) -> TaskRegistry:
    return TaskRegistry(spec_of(f) for f in builtin_functions(bus, boundaries))


async def test_loopback_is_refused_by_default_before_any_connection(http_server: str) -> None:
    async with MemoryBus() as bus:
        functions = _registry_with(bus, None)
        for url in (f"{http_server}/x", http_server.replace("127.0.0.1", "[::ffff:127.0.0.1]")):
            with pytest.raises(EgressDenied, match="loopback"):
                await call(functions, "http.request", {"url": url})
    assert _Recorder.seen == []


async def test_a_name_with_one_private_address_among_several_is_refused(
    http_server: str,
) -> None:
    asked: list[tuple[str, int]] = []

    async def resolver(host: str, port: int) -> list[IPAddress]:
        asked.append((host, port))
        # The allowed loopback first: a check of the first address alone would connect.
        return [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.0.0.7")]

    port = int(http_server.rsplit(":", 1)[1])
    limits = HttpLimits(policy=EgressPolicy.parse(["127.0.0.1"]), resolver=resolver)
    async with MemoryBus() as bus:
        functions = _registry_with(bus, Boundaries(http=limits))
        with pytest.raises(EgressDenied, match=r"10\.0\.0\.7, a private address"):
            await call(functions, "http.request", {"url": f"http://rebind.test:{port}/x"})
    assert asked == [("rebind.test", port)]
    assert _Recorder.seen == []


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("169.254.169.254", "link-local"),
        ("10.1.1.1", "private"),
        ("fd12::1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::1", "loopback"),
        ("240.1.2.3", "reserved"),
    ],
)
async def test_every_refused_class_fails_the_call_through_the_resolver(
    address: str, why: str
) -> None:
    async def resolver(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(address)]

    async with MemoryBus() as bus:
        functions = _registry_with(bus, Boundaries(http=HttpLimits(resolver=resolver)))
        with pytest.raises(EgressDenied, match=why):
            await call(functions, "http.request", {"url": "https://metadata.test/latest"})


async def test_each_connection_resolves_and_is_checked_again() -> None:
    # DNS rebinding: a name that was public at the first connection and private at the
    # next is refused at the next (there is no cached verdict to reuse).
    answers = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("169.254.169.254")]

    async def resolver(host: str, port: int) -> list[IPAddress]:
        return [answers.pop(0)]

    limits = HttpLimits(policy=EgressPolicy.parse(["127.0.0.0/8"]), resolver=resolver)
    async with MemoryBus() as bus:
        functions = _registry_with(bus, Boundaries(http=limits))
        import httpx

        with pytest.raises(httpx.ConnectError):  # checked, allowed, nothing listens on :1
            await call(functions, "http.request", {"url": "http://flip.test:1/"})
        with pytest.raises(EgressDenied, match="link-local"):
            await call(functions, "http.request", {"url": "http://flip.test:1/"})


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x/"])
def test_only_http_and_https_urls_are_accepted(
    registry: tuple[TaskRegistry, MemoryBus], url: str
) -> None:
    from jsonschema import Draft202012Validator
    from tickwork_executor.errors import InvalidArguments

    spec = registry[0].get("http.request")
    assert spec is not None
    with pytest.raises(InvalidArguments, match="url"):
        spec.bind({"url": url}, CONTEXT)
    # The same rule is in the schema the api validates with at create.
    assert not Draft202012Validator(spec.params_schema).is_valid({"url": url})
    assert Draft202012Validator(spec.params_schema).is_valid({"url": "HTTPS://example.com"})


class _Redirect(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _Flood(BaseHTTPRequestHandler):
    """Answers 10 MB without a content-length (read until the connection closes)."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        if self.path == "/announced":
            self.send_header("content-length", str(10 * 1024 * 1024))
        self.end_headers()
        chunk = b"x" * 65536
        try:
            for _ in range(160):
                self.wfile.write(chunk)
        except OSError:
            pass  # the client stopped reading: what the limit is for

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


async def test_redirects_are_not_followed(
    registry: tuple[TaskRegistry, MemoryBus], serve: Any
) -> None:
    url = serve(_Redirect)
    result = await call(registry[0], "http.request", {"url": url, "expectStatus": 302})
    assert result["status"] == 302


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")


@pytest.mark.parametrize("path", ["/streamed", "/announced"])
async def test_a_10_mb_answer_fails_with_response_too_large_and_little_memory(
    registry: tuple[TaskRegistry, MemoryBus], serve: Any, path: str
) -> None:
    url = serve(_Flood)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak RSS to the current RSS
    before = _peak_rss_bytes()
    with pytest.raises(ResponseTooLarge, match="1048576"):
        await call(registry[0], "http.request", {"url": url + path})
    growth = _peak_rss_bytes() - before
    assert growth < 50 * 1024 * 1024, f"peak RSS grew by {growth / 2**20:.1f} MiB"


@pytest.mark.parametrize(
    ("exchange", "routing_key"),
    [
        ("", "tickwork.runs"),
        ("tickwork.events", "execution.succeeded"),
        ("tickwork.commands", "job.trigger"),
        ("amq.topic", "anything"),
    ],
)
async def test_amqp_publish_refuses_tickworks_and_the_brokers_exchanges(
    exchange: str, routing_key: str
) -> None:
    async with MemoryBus() as bus:
        received: list[Delivery] = []

        async def listen(delivery: Delivery) -> None:
            received.append(delivery)

        if exchange.startswith("tickwork."):
            await bus.subscribe(exchange, ["#"], listen)
        functions = _registry_with(bus, None)
        with pytest.raises(PublishDenied):
            await call(
                functions,
                "amqp.publish",
                {"exchange": exchange, "routingKey": routing_key, "body": {"jobId": 1}},
            )
        await asyncio.sleep(0.05)
        assert received == []


async def test_amqp_publish_goes_over_the_publish_bus_when_there_is_one() -> None:
    async with MemoryBus() as own, MemoryBus() as users:
        on_users: list[Delivery] = []
        on_own: list[Delivery] = []

        async def listen_users(delivery: Delivery) -> None:
            on_users.append(delivery)

        async def listen_own(delivery: Delivery) -> None:
            on_own.append(delivery)

        await users.subscribe("tickwork.commands", ["reports.#"], listen_users)
        await own.subscribe("tickwork.commands", ["reports.#"], listen_own)
        boundaries = Boundaries(publish_allow=frozenset({"tickwork.commands"}), publish_bus=users)
        functions = _registry_with(own, boundaries)
        args = {"exchange": "tickwork.commands", "routingKey": "reports.x", "body": "hi"}
        await call(functions, "amqp.publish", args)
        await wait_until(lambda: on_users, timeout=2, interval=0.01, what="the user publish")
        assert on_own == []
