"""The trust boundary of the built-in task functions (issue 14): where `http.request` may
connect (checked at every connection, after the name is resolved), what it reads back, and
which exchanges `amqp.publish` may reach and over which bus."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest
from tickwork_executor.errors import EgressDenied, PublishDenied, ResponseTooLarge
from tickwork_executor.run.builtins import Boundaries
from tickwork_executor.run.http_limits import HttpLimits
from tickwork_executor.tasks import TaskRegistry
from tickwork_shared.bus import MemoryBus
from tickwork_shared.bus.abc import Delivery
from tickwork_shared.egress import EgressPolicy, IPAddress

from tests.harness.waiting import wait_until
from tests.unit.executor.builtin_calls import CONTEXT, call, registry_with
from tests.unit.executor.http_servers import Flood, Recorder, Redirect


async def test_loopback_is_refused_by_default_before_any_connection(http_server: str) -> None:
    async with MemoryBus() as bus:
        functions = registry_with(bus, None)
        for url in (f"{http_server}/x", http_server.replace("127.0.0.1", "[::ffff:127.0.0.1]")):
            with pytest.raises(EgressDenied, match="loopback"):
                await call(functions, "http.request", {"url": url})
    assert Recorder.seen == []


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
        functions = registry_with(bus, Boundaries(http=limits))
        with pytest.raises(EgressDenied, match=r"10\.0\.0\.7, a private address"):
            await call(functions, "http.request", {"url": f"http://rebind.test:{port}/x"})
    assert asked == [("rebind.test", port)]
    assert Recorder.seen == []


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
        functions = registry_with(bus, Boundaries(http=HttpLimits(resolver=resolver)))
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
        functions = registry_with(bus, Boundaries(http=limits))
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


async def test_redirects_are_not_followed(
    registry: tuple[TaskRegistry, MemoryBus], serve: Any
) -> None:
    url = serve(Redirect)
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
    url = serve(Flood)
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
        functions = registry_with(bus, None)
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
        functions = registry_with(own, boundaries)
        args = {"exchange": "tickwork.commands", "routingKey": "reports.x", "body": "hi"}
        await call(functions, "amqp.publish", args)
        await wait_until(lambda: on_users, timeout=2, interval=0.01, what="the user publish")
        assert on_own == []
