"""Confirmed batches written in one go: every publish of a batch is on the wire before the
first confirm is awaited.

aiormq's `basic_publish` waits for each message's confirm, so a batch through it needs a
task, or a lane, per message in flight, and those event-loop turns are most of what a
relay spends: 90-100 us of CPU per message with eight lanes against 30 us written in one
go (bench/publish_cost.py). `publish_pipelined` does, for every message of the batch and
under the channel's lock, what `basic_publish` does before its wait: the next delivery
tag, a confirmation future, the message id a `Basic.Return` is matched by (mandatory
publishes); then it waits for all the confirms under one deadline. The broker confirms a
channel's messages in order, so a batch keeps its order.

It uses aiormq's channel bookkeeping (`lock`, `delivery_tag`, `confirmations`,
`message_id_delivery_tag`, `write_queue`, `_split_body`): aiormq's version is pinned by
the lock file and `test_rabbit_bus` publishes through here (ordering, returns, timeouts).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import aiormq
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.base import Frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

_FAILED_WRITE = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
)

Outcome = BaseException | bool
"""True: confirmed; False: not confirmed in time (or never sent); an error: nacked,
returned unroutable, or the channel closed under it."""


async def publish_pipelined(
    channel: aiormq.Channel,
    messages: Sequence[tuple[str, str, bytes, spec.Basic.Properties, bool]],
    *,
    wait_seconds: float,
) -> list[Outcome]:
    """Publish `(exchange, routing_key, body, properties, mandatory)` messages on a
    channel in confirm mode; one outcome per message, in order. Never raises for a
    message's failure: a message not written within `wait_seconds` (a stalled connection) or
    not confirmed by then is False, so the caller can send it again."""
    outcomes: list[Outcome] = [False] * len(messages)
    confirmations: list[asyncio.Future[object]] = []
    try:
        async with asyncio.timeout(wait_seconds):
            try:
                async with channel.lock:
                    for exchange, routing_key, body, properties, mandatory in messages:
                        confirmations.append(
                            await _write(
                                channel, exchange, routing_key, body, properties, mandatory
                            )
                        )
            except _FAILED_WRITE as error:
                # The channel or connection failed while the batch was being written: the
                # messages not written carry the error (the caller sends them again);
                # those written are still confirmed or rejected by the channel.
                for index in range(len(confirmations), len(messages)):
                    outcomes[index] = error
            if confirmations:
                await asyncio.wait(confirmations)
    except TimeoutError:
        pass
    for index, confirmation in enumerate(confirmations):
        if not confirmation.done():
            confirmation.cancel()  # a late confirm is then ignored quietly
        elif not confirmation.cancelled():
            failure = confirmation.exception()
            outcomes[index] = True if failure is None else failure
    return outcomes


async def _write(
    channel: aiormq.Channel,
    exchange: str,
    routing_key: str,
    body: bytes,
    properties: spec.Basic.Properties,
    mandatory: bool,
) -> asyncio.Future[object]:
    """Register one publish's confirmation and queue its frames (the caller holds the
    channel's lock, so delivery tags follow the order on the wire)."""
    channel.delivery_tag += 1
    tag = channel.delivery_tag
    # The channel's own future: a channel that closes rejects it (aiormq's future store).
    confirmation: asyncio.Future[object] = channel.create_future()
    channel.confirmations[tag] = confirmation
    message_id = properties.message_id
    if mandatory:
        # A returned message is matched to its confirmation by its id.
        if not message_id:
            message_id = properties.message_id = uuid.uuid4().hex
        channel.message_id_delivery_tag[message_id] = tag
    frames: list[Frame | ContentHeader | ContentBody] = [
        spec.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=mandatory),
        ContentHeader(properties=properties, body_size=len(body)),
        *channel._split_body(body),
    ]
    try:
        await channel.write_queue.put(
            ChannelFrame.marshall(frames=frames, channel_number=channel.number)
        )
    except BaseException:
        # Not queued, so the broker never sees this tag: give it back, as aiormq does.
        channel.delivery_tag -= 1
        channel.confirmations.pop(tag, None)
        if mandatory and message_id and channel.message_id_delivery_tag.get(message_id) == tag:
            channel.message_id_delivery_tag.pop(message_id)
        confirmation.cancel()
        raise
    if mandatory and message_id:
        confirmation.add_done_callback(lambda _: _forget(channel, message_id, tag))
    return confirmation


def _forget(channel: aiormq.Channel, message_id: str, tag: int) -> None:
    if channel.message_id_delivery_tag.get(message_id) == tag:
        channel.message_id_delivery_tag.pop(message_id)
