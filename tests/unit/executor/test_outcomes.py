"""Pure decisions about how a run ends: what is written, and the stored result and error."""

from __future__ import annotations

import json

import pytest
from tickwork_executor.record.outcomes import (
    MAX_ERROR_CHARS,
    Finish,
    Outcome,
    StopReason,
    bound_result,
    decide_finish,
    error_text,
)
from tickwork_shared.enums import ExecutionStatus

DONE = Outcome(ExecutionStatus.SUCCEEDED, result=1)


@pytest.mark.parametrize(
    ("stop", "outcome", "expected"),
    [
        (None, DONE, (Finish.RECORD, DONE)),
        (StopReason.CANCEL_REQUESTED, None, (Finish.RECORD, Outcome(ExecutionStatus.CANCELLED))),
        (StopReason.CANCEL_REQUESTED, DONE, (Finish.RECORD, DONE)),  # finished first
        (StopReason.SHUTDOWN, None, (Finish.GIVE_UP, None)),
        (StopReason.SHUTDOWN, DONE, (Finish.RECORD, DONE)),
        (StopReason.LEASE_LOST, None, (Finish.NOTHING, None)),
        (StopReason.LEASE_LOST, DONE, (Finish.NOTHING, None)),  # someone else owns it now
        (None, None, (Finish.GIVE_UP, None)),  # interrupted for no reason: never lost
    ],
)
def test_decide_finish(
    stop: StopReason | None, outcome: Outcome | None, expected: tuple[Finish, Outcome | None]
) -> None:
    assert decide_finish(stop, outcome) == expected


@pytest.mark.parametrize(
    ("status", "handled"),
    [
        (ExecutionStatus.SUCCEEDED, True),
        (ExecutionStatus.CANCELLED, True),
        (ExecutionStatus.FAILED, False),
        (ExecutionStatus.TIMED_OUT, False),
    ],
)
def test_retry_is_left_to_the_planner_for_failures_and_timeouts(
    status: ExecutionStatus, handled: bool
) -> None:
    assert Outcome(status).retry_handled is handled


def test_error_text_is_type_and_message() -> None:
    assert error_text(ValueError("bad value")) == "ValueError: bad value"
    assert error_text(RuntimeError()) == "RuntimeError"
    long = error_text(ValueError("x" * 10_000))
    assert len(long) == MAX_ERROR_CHARS
    assert long.endswith("…")


def test_small_results_are_stored_as_json() -> None:
    assert bound_result({"a": [1, 2.5, None, "é"]}, 1024) == {"a": [1, 2.5, None, "é"]}
    assert bound_result(None, 1024) is None
    assert bound_result((1, 2), 1024) == [1, 2]


def test_values_json_cannot_hold_are_stored_as_text() -> None:
    class Thing:
        def __str__(self) -> str:
            return "a thing"

    assert bound_result({"thing": Thing()}, 1024) == {"thing": "a thing"}


@pytest.mark.parametrize("value", ["x" * 5000, {"rows": [{"name": 'q"uote'}] * 500}, ["é"] * 3000])
def test_large_results_are_replaced_by_a_note_that_fits(value: object) -> None:
    stored = bound_result(value, 1000)
    assert stored["truncated"] is True
    assert stored["originalBytes"] == len(json.dumps(value).encode())
    assert len(json.dumps(stored).encode()) <= 1000
    assert json.dumps(value).startswith(stored["preview"])
    assert len(stored["preview"]) > 500  # most of the budget is the preview


def test_a_result_exactly_at_the_limit_is_kept() -> None:
    value = "x" * 98  # JSON "xxx…" is 100 bytes
    assert bound_result(value, 100) == value
    assert bound_result(value, 99) != value
