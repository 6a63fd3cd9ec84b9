"""`publish_pipelined` against a stand-in channel that records what is written and
answers as a broker would: confirms in order, a nack, a stalled connection, a failed
write. (The real broker path is in tests/integration/test_bus_contract.py.)"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiormq
import pytest
from pamqp import commands as spec
from pamqp.body import ContentBody
from tickwork_shared.bus.pipeline import publish_pipelined


class FakeChannel:
    """The parts of `aiormq.Channel` the pipeline touches; `written` holds each message's
    delivery tag and routing key in wire order."""

    number = 1

    def __init__(self, *, queue_size: int = 2) -> None:
        self.lock = asyncio.Lock()
        self.delivery_tag = 0
        self.confirmations: dict[int, asyncio.Future[Any]] = {}
        self.message_id_delivery_tag: dict[str, int] = {}
        self.write_queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)
        self.written: list[tuple[int, bytes]] = []

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    def _split_body(self, body: bytes) -> list[Any]:
        return [ContentBody(body)]

    async def broker(self, *, nack: set[int] = frozenset(), stall_after: int | None = None) -> None:  # type: ignore[assignment]
        """Take frames off the queue and confirm each (nack the tags in `nack`); stop
        answering after `stall_after` messages (a connection that hangs)."""
        while True:
            frame = await self.write_queue.get()
            tag = len(self.written) + 1
            self.written.append((tag, frame.payload))
            if stall_after is not None and tag > stall_after:
                continue
            confirmation = self.confirmations.pop(tag)
            if tag in nack:
                confirmation.set_exception(aiormq.exceptions.DeliveryError(None, None))
            else:
                confirmation.set_result(spec.Basic.Ack(delivery_tag=tag))


def batch(
    n: int, *, mandatory: bool = False
) -> list[tuple[str, str, bytes, spec.Basic.Properties, bool]]:
    return [
        ("tickwork.events", f"execution.{i}", b"body-%d" % i, spec.Basic.Properties(), mandatory)
        for i in range(n)
    ]


async def publish(channel: FakeChannel, messages: Any, wait_seconds: float = 2.0) -> list[Any]:
    return await publish_pipelined(
        cast(aiormq.Channel, channel), messages, wait_seconds=wait_seconds
    )


async def test_every_message_is_written_in_order_before_the_confirms_are_awaited() -> None:
    channel = FakeChannel()
    broker = asyncio.create_task(channel.broker())
    outcomes = await publish(channel, batch(50))
    broker.cancel()
    assert outcomes == [True] * 50
    assert [tag for tag, _ in channel.written] == list(range(1, 51))
    assert [b"execution.%d" % i in payload for i, (_, payload) in enumerate(channel.written)] == [
        True
    ] * 50
    assert channel.confirmations == {}


async def test_a_nacked_message_carries_its_error_and_the_others_are_confirmed() -> None:
    channel = FakeChannel()
    broker = asyncio.create_task(channel.broker(nack={3}))
    outcomes = await publish(channel, batch(5))
    broker.cancel()
    assert [o is True for o in outcomes] == [True, True, False, True, True]
    assert isinstance(outcomes[2], aiormq.exceptions.DeliveryError)


async def test_messages_unconfirmed_by_the_deadline_are_false_and_forgotten() -> None:
    channel = FakeChannel(queue_size=1)
    broker = asyncio.create_task(channel.broker(stall_after=2))
    outcomes = await publish(channel, batch(4), wait_seconds=0.2)
    broker.cancel()
    assert outcomes == [True, True, False, False]
    # The late confirmations were cancelled: a confirm arriving now is ignored.
    assert all(f.cancelled() for f in channel.confirmations.values())


async def test_a_write_that_cannot_be_queued_gives_its_delivery_tag_back() -> None:
    channel = FakeChannel(queue_size=1)  # nobody drains: the second write waits forever
    outcomes = await publish(channel, batch(3, mandatory=True), wait_seconds=0.2)
    assert outcomes == [False, False, False]
    assert channel.delivery_tag == 1  # only the queued message holds a tag
    assert list(channel.confirmations) == [1]
    assert list(channel.message_id_delivery_tag.values()) == [1]


async def test_a_mandatory_message_gets_an_id_for_its_return_and_the_id_is_forgotten() -> None:
    channel = FakeChannel()
    broker = asyncio.create_task(channel.broker())
    messages = batch(2, mandatory=True)
    outcomes = await publish(channel, messages)
    await asyncio.sleep(0)  # the done callbacks run
    broker.cancel()
    assert outcomes == [True, True]
    assert all(properties.message_id for _, _, _, properties, _ in messages)
    assert channel.message_id_delivery_tag == {}


@pytest.mark.parametrize(
    "error", [aiormq.exceptions.ChannelInvalidStateError("closed"), ConnectionError("reset")]
)
async def test_a_channel_that_fails_mid_batch_marks_the_unwritten_messages_with_its_error(
    error: Exception,
) -> None:
    channel = FakeChannel()
    broker = asyncio.create_task(channel.broker())
    real_put = channel.write_queue.put
    calls = 0

    async def failing_put(item: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise error
        await real_put(item)

    channel.write_queue.put = failing_put  # type: ignore[method-assign]
    outcomes = await publish(channel, batch(4))
    broker.cancel()
    assert outcomes[:2] == [True, True]
    assert outcomes[2:] == [error, error]
    assert channel.delivery_tag == 2
