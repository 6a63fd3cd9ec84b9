"""`in_order`: which claimed outbox rows a relay may publish now."""

from __future__ import annotations

from tickwork_shared.events import PendingEvent, in_order


def _event(row_id: int, key: str) -> PendingEvent:
    return PendingEvent(row_id, f"e{row_id}", "execution.x", key, None, b"{}", False)


def test_keys_whose_earliest_row_is_in_the_chunk_go_whole() -> None:
    chunk = [_event(1, "a"), _event(2, "b"), _event(3, "a")]
    assert in_order(chunk, {"a": 1, "b": 2}) == chunk


def test_a_key_with_an_earlier_row_outside_the_chunk_waits_whole() -> None:
    chunk = [_event(5, "a"), _event(6, "b"), _event(7, "a")]
    # Row 4 of key "a" is held by another relay (or waits for its relay delay).
    assert [e.row_id for e in in_order(chunk, {"a": 4, "b": 6})] == [6]


def test_an_empty_chunk_has_nothing_to_send() -> None:
    assert in_order([], {}) == []
