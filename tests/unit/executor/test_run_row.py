"""`RunRow`: plain frozen data, changed only into new rows, and only in its own columns."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from tickwork_executor.claim import statements as claim_statements
from tickwork_executor.record import statements as record_statements
from tickwork_executor.run_row import EXECUTIONS, RUN_COLUMNS, RowWrite, RunRow

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _queued() -> RunRow:
    values = dict.fromkeys(RUN_COLUMNS) | {
        "execution_id": "e-1",
        "job_id": 4,
        "attempt": 1,
        "status": "queued",
        "args": {"a": 1},
        "retry_handled": False,
        "scheduled_at": NOW,
    }
    return RunRow.of(values[name] for name in RUN_COLUMNS)


def test_a_row_of_values_is_the_row_its_constructor_makes() -> None:
    row = _queued()
    assert row == RunRow(**{name: getattr(row, name) for name in RUN_COLUMNS})
    with pytest.raises(ValueError, match="shorter"):  # one value per column, no fewer
        RunRow.of(["e-1", 4])


def test_a_change_is_a_new_row() -> None:
    row = _queued()
    running = row.changed(status="running", lease_token="t-1")
    assert (running.status, running.lease_token, running.args) == ("running", "t-1", {"a": 1})
    assert (row.status, row.lease_token) == ("queued", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        running.status = "succeeded"  # type: ignore[misc]
    with pytest.raises(TypeError, match="statuz"):
        row.changed(statuz="running")


@pytest.mark.parametrize(
    "write",
    [
        claim_statements.START_RUNS,
        claim_statements.END_AT_CLAIM,
        claim_statements.DEFER,
        record_statements.WRITE_OUTCOMES,
    ],
)
def test_every_write_writes_columns_of_a_run_row(write: RowWrite) -> None:
    names = write.shared + write.per_row + write.fence
    assert set(names) <= set(RUN_COLUMNS)
    assert set(RUN_COLUMNS) <= set(EXECUTIONS.c.keys())


def test_a_writes_parameters_are_the_rows_values() -> None:
    first, second = _queued(), _queued().changed(execution_id="e-2", published_at=NOW)
    rows = [
        row.changed(status="running", lease_token=f"t-{n}") for n, row in enumerate((first, second))
    ]
    params = claim_statements.START_RUNS.params(rows)
    assert (params["id0"], params["id1"]) == ("e-1", "e-2")
    assert (params["lease_token0"], params["lease_token1"]) == ("t-0", "t-1")
    assert (params["published_at0"], params["published_at1"]) == (None, NOW)
    assert params["status"] == "running"  # shared by every row: bound once
