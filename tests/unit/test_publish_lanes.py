"""How a confirmed batch is split into lanes (`tickwork_shared.bus.rabbitmq._lanes`):
each lane sends its messages one after the other, so a key's messages keep their order."""

from __future__ import annotations

from tickwork_shared.bus.abc import OutgoingMessage
from tickwork_shared.bus.rabbitmq import _LANES, _lanes


def _event(key: str | None, n: int) -> OutgoingMessage:
    return OutgoingMessage("tickwork.events", "execution.x", b"%d" % n, ordering_key=key)


def test_every_message_is_in_exactly_one_lane_in_order() -> None:
    messages = [_event(None if n % 3 else f"k{n % 7}", n) for n in range(100)]
    lanes = _lanes(messages)
    assert sorted(index for lane in lanes for index in lane) == list(range(100))
    assert all(lane == sorted(lane) for lane in lanes)
    assert 1 <= len(lanes) <= _LANES


def test_messages_of_one_key_share_a_lane() -> None:
    messages = [_event(f"exec-{n % 5}", n) for n in range(50)]
    lane_of = {index: number for number, lane in enumerate(_lanes(messages)) for index in lane}
    for key in range(5):
        same_key = [index for index in range(50) if index % 5 == key]
        assert len({lane_of[index] for index in same_key}) == 1


def test_messages_without_a_key_spread_over_every_lane() -> None:
    assert len(_lanes([_event(None, n) for n in range(3 * _LANES)])) == _LANES
    assert len(_lanes([_event(None, n) for n in range(2)])) == 2
