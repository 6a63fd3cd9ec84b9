"""Run messages that can never be run are recognised as poison, with the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from tickwork_executor.errors import PoisonMessage
from tickwork_executor.intake.pacing import MAX_EARLY_SECONDS, seconds_until_due
from tickwork_executor.intake.run_messages import parse_run_message
from tickwork_shared.messages import MAX_MESSAGE_BYTES

GOOD = {
    "schemaVersion": 1,
    "executionId": "0b6f5c1e-8d4a-4f7e-9a51-3c2d1e0f9a8b",
    "jobId": 7,
    "scheduledAt": "2026-05-01T12:00:00Z",
    "attempt": 1,
}


def test_a_run_message_parses() -> None:
    message = parse_run_message(orjson.dumps(GOOD))
    assert message.execution_id == GOOD["executionId"]
    assert message.job_id == 7
    assert message.attempt == 1
    assert message.due_at is None  # a message without dueAt (older planners): run at once


def test_a_run_message_planned_ahead_carries_its_due_time() -> None:
    message = parse_run_message(orjson.dumps(GOOD | {"dueAt": "2026-05-01T12:00:00.250Z"}))
    assert message.due_at == datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert orjson.loads(message.to_bytes())["dueAt"] == "2026-05-01T12:00:00.250000Z"
    assert "dueAt" not in orjson.loads(parse_run_message(orjson.dumps(GOOD)).to_bytes())


@pytest.mark.parametrize(
    ("due_in", "waits"),
    [(None, 0.0), (-5.0, 0.0), (0.0, 0.0), (0.25, 0.25), (3600.0, MAX_EARLY_SECONDS)],
)
def test_how_long_a_run_waits_for_its_due_time(due_in: float | None, waits: float) -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    due = None if due_in is None else now + timedelta(seconds=due_in)
    message = parse_run_message(orjson.dumps(GOOD | {"dueAt": due and due.isoformat()}))
    assert seconds_until_due(message, now.timestamp()) == pytest.approx(waits)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json {", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (orjson.dumps(GOOD | {"schemaVersion": 2}), "unknown schemaVersion 2"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "schemaVersion"}), "schemaVersion"),
        (orjson.dumps(GOOD | {"jobId": "seven"}), "jobId"),
        (orjson.dumps(GOOD | {"attempt": 0}), "attempt"),
        (orjson.dumps(GOOD | {"dueAt": "soon"}), "dueAt"),
        (orjson.dumps(GOOD | {"pad": "x" * MAX_MESSAGE_BYTES}), "oversized"),
    ],
)
def test_poison(body: bytes, why: str) -> None:
    with pytest.raises(PoisonMessage, match=why):
        parse_run_message(body)
