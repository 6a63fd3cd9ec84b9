"""Run messages that can never be run are recognised as poison, with the reason."""

from __future__ import annotations

import orjson
import pytest
from tickwork_executor.errors import PoisonMessage
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


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json {", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (orjson.dumps(GOOD | {"schemaVersion": 2}), "unknown schemaVersion 2"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "schemaVersion"}), "schemaVersion"),
        (orjson.dumps(GOOD | {"jobId": "seven"}), "jobId"),
        (orjson.dumps(GOOD | {"attempt": 0}), "attempt"),
        (orjson.dumps(GOOD | {"pad": "x" * MAX_MESSAGE_BYTES}), "oversized"),
    ],
)
def test_poison(body: bytes, why: str) -> None:
    with pytest.raises(PoisonMessage, match=why):
        parse_run_message(body)
