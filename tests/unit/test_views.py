"""REST and events say the same of an execution: both are `execution_fields`, and REST's
model (`ExecutionPublic`) gives back exactly what it was built from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from tickwork_shared.db.models import JobExecution, ScheduledJob
from tickwork_shared.enums import Trigger
from tickwork_shared.runs import manual_fire_key, new_run, scheduled_run
from tickwork_shared.views import ExecutionPublic, execution_fields

NOW = datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC)


def _job() -> ScheduledJob:
    return ScheduledJob(
        id=7,
        task_function="tickwork.noop",
        args={"a": [1, 2, {"b": None}]},
        timeout_seconds=60,
        max_retries=0,
        retry_backoff_seconds=1,
    )


def _queued() -> JobExecution:
    return scheduled_run(_job(), NOW, now=NOW)


def _finished(**fields: Any) -> JobExecution:
    row = _queued()
    row.id = 12
    row.status = "succeeded"
    row.started_at = NOW + timedelta(milliseconds=5)
    row.finished_at = NOW + timedelta(seconds=1)
    row.duration_ms = 995
    row.executor_id, row.host_name = "executor-1", "host"
    for name, value in fields.items():
        setattr(row, name, value)
    return row


def _manual() -> JobExecution:
    row = new_run(
        _job(),
        fire_key=manual_fire_key(),
        scheduled_at=NOW,
        trigger=Trigger.MANUAL,
        now=NOW,
        triggered_by_id="key-1",
    )
    row.status, row.reason = "cancelled", "cancelled by key-1"
    return row


@pytest.mark.parametrize(
    "row",
    [
        _queued(),
        _finished(result={"rows": [1, 2], "nested": {"ok": True, "none": None}}),
        _finished(status="failed", error="TaskFailed: no", result=None),
        _finished(result="text"),
        # A time that is not UTC still leaves as UTC with a `Z`.
        _finished(started_at=NOW.astimezone(timezone(timedelta(hours=2)))),
        _manual(),
    ],
    ids=["queued", "succeeded", "failed", "scalar-result", "offset-time", "manual-cancelled"],
)
def test_the_event_payload_is_the_rest_shape(row: JobExecution) -> None:
    rest = ExecutionPublic.of(row).model_dump(mode="json")
    assert rest == execution_fields(row)
    assert orjson.dumps(rest) == orjson.dumps(execution_fields(row))  # key order too


def test_execution_events_carry_the_result_masked() -> None:
    from tickwork_shared.events import execution_event

    row = _finished(result={"status": 200, "body": {"accessToken": "t-1", "user": "ann"}})
    event = execution_event(row)
    assert event["result"] == {"status": 200, "body": {"accessToken": "***", "user": "ann"}}
    assert row.result["body"]["accessToken"] == "t-1"  # the row (and REST for admins) keeps it
