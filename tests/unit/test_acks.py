"""Acks of one channel sent together: a `multiple` ack never covers a delivery that was
not acked (that would settle a run message nobody claimed: a lost run)."""

from __future__ import annotations

import asyncio

import pytest
from tickwork_shared.bus.acks import AckPlan, ChannelAcks, plan_acks


def test_the_oldest_run_of_wanted_acks_goes_as_one_frame() -> None:
    assert plan_acks({1: True, 2: True, 3: True}) == AckPlan(up_to=3)
    assert plan_acks({4: True, 5: True, 6: False, 7: True}) == AckPlan(up_to=5, singles=[7])


def test_an_unsettled_oldest_delivery_blocks_the_multiple_ack() -> None:
    assert plan_acks({1: False, 2: True, 3: True}) == AckPlan(singles=[2, 3])


def test_a_single_wanted_ack_is_sent_alone() -> None:
    assert plan_acks({1: True, 2: False}) == AckPlan(singles=[1])
    assert plan_acks({}) == AckPlan()
    assert plan_acks({3: False}) == AckPlan()


def test_tags_are_taken_in_order_whatever_the_mapping_order() -> None:
    assert plan_acks({3: True, 1: True, 2: True}) == AckPlan(up_to=3)
    assert plan_acks({3: True, 1: True, 2: False}) == AckPlan(singles=[1, 3])


class Channel:
    """Acks as the broker sees them: a `multiple` ack settles every unacked tag up to it;
    an ack of a tag that is not unacked is an error (it closes a real channel)."""

    def __init__(self) -> None:
        self.unacked: set[int] = set()
        self.frames: list[tuple[int, bool]] = []

    def deliver(self, acks: ChannelAcks, *tags: int) -> None:
        for tag in tags:
            self.unacked.add(tag)
            acks.received(tag)

    async def send(self, tag: int, multiple: bool) -> None:
        await asyncio.sleep(0)
        self.frames.append((tag, multiple))
        covered = {t for t in self.unacked if t <= tag} if multiple else {tag}
        if tag not in self.unacked:
            raise RuntimeError(f"PRECONDITION_FAILED - unknown delivery tag {tag}")
        self.unacked -= covered


async def test_acks_of_one_turn_go_in_one_frame_and_never_cover_an_unacked_delivery() -> None:
    channel = Channel()
    acks = ChannelAcks(channel.send)
    channel.deliver(acks, 1, 2, 3, 4, 5)
    await asyncio.gather(acks.ack(1), acks.ack(2), acks.ack(4))
    assert channel.frames == [(2, True), (4, False)]
    assert channel.unacked == {3, 5}
    await asyncio.gather(acks.ack(3), acks.ack(5))
    assert channel.unacked == set()
    assert channel.frames[2:] == [(5, True)]


async def test_a_rejected_delivery_is_not_covered_until_its_own_frame_went_out() -> None:
    channel = Channel()
    acks = ChannelAcks(channel.send)
    channel.deliver(acks, 1, 2, 3)
    await acks.ack(1)
    await acks.ack(3)  # 2 is being rejected meanwhile: not covered
    assert channel.unacked == {2}
    channel.unacked.discard(2)  # its reject went out
    acks.settled_alone(2)
    channel.deliver(acks, 4, 5)
    await asyncio.gather(acks.ack(4), acks.ack(5))
    assert channel.frames[-1] == (5, True)
    assert channel.unacked == set()


async def test_acks_asked_while_a_frame_is_being_sent_follow_it() -> None:
    channel = Channel()
    acks = ChannelAcks(channel.send)
    channel.deliver(acks, 1, 2, 3, 4)
    first = asyncio.gather(acks.ack(1), acks.ack(2))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the flusher has taken 1 and 2
    second = asyncio.gather(acks.ack(3), acks.ack(4))
    await asyncio.gather(first, second)
    assert channel.unacked == set()
    assert [frame for frame in channel.frames if frame[1]] == [(2, True), (4, True)]


async def test_a_failed_send_fails_the_acks_it_carried() -> None:
    async def closed(tag: int, multiple: bool) -> None:
        raise ConnectionError("channel closed")

    acks = ChannelAcks(closed)
    acks.received(1)
    acks.received(2)
    results = await asyncio.gather(acks.ack(1), acks.ack(2), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    acks.received(3)
    with pytest.raises(ConnectionError):
        await acks.ack(3)
