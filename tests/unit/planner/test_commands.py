"""Parsing `job.trigger` commands and their idempotency keys."""

from __future__ import annotations

import pytest
from tickwork_planner.commands import dedupe_key, parse_command
from tickwork_planner.errors import CommandRejected


def test_by_id_and_by_name() -> None:
    assert parse_command(b'{"jobId": 7}').job_id == 7
    by_name = parse_command(b'{"jobName": "nightly", "idempotencyKey": "k-1"}')
    assert (by_name.job_name, by_name.idempotency_key) == ("nightly", "k-1")


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", b'{"jobId": 1, "jobName": "x"}', b'{"jobId": "seven"}', b"\xff\xfe"],
)
def test_malformed_commands_are_rejected(body: bytes) -> None:
    with pytest.raises(CommandRejected, match="malformed"):
        parse_command(body)


def test_own_key_wins_then_message_id_then_none() -> None:
    keyed = parse_command(b'{"jobId": 7, "idempotencyKey": "abc"}')
    plain = parse_command(b'{"jobId": 7}')
    assert dedupe_key(keyed, "msg-1") == "abc"
    from_message = dedupe_key(plain, "msg-1")
    assert from_message is not None
    assert from_message == dedupe_key(plain, "msg-1")
    assert from_message != dedupe_key(plain, "msg-2")
    assert len(from_message) <= 200  # fits the fire key column with its prefix
    assert dedupe_key(plain, None) is None
