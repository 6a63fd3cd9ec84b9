"""Pure parts of the client commands: reading a jobs file, what changed, table fitting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tickwork_client import Job

from tickwork.client_cli.apply import FileProblem, changed_fields, load_jobs
from tickwork.client_cli.output import Column, table


def test_a_jobs_file_is_a_list_or_a_jobs_mapping() -> None:
    assert load_jobs("- {name: a, taskFunction: x}\n") == [{"name": "a", "taskFunction": "x"}]
    assert load_jobs("jobs:\n  - {name: b}\n") == [{"name": "b"}]
    assert load_jobs("jobs: []\n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("jobs: [\n", "not valid YAML"),
        ("name: a\n", "must be a list of jobs"),
        ("- 5\n", "job #1: must be a mapping"),
        ("- {taskFunction: x}\n", "job #1: name: required"),
        ("- {name: ''}\n", "job #1: name: required"),
        ("- {name: a}\n- {name: a}\n", "a: name: appears twice"),
        ("jobs: {name: a}\n", "must be a list of jobs"),
    ],
)
def test_a_bad_jobs_file_names_the_job_and_field(text: str, message: str) -> None:
    with pytest.raises(FileProblem, match=message):
        load_jobs(text)


def _job(**fields: object) -> Job:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    base: dict[str, object] = {
        "id": 1,
        "name": "a",
        "taskFunction": "tickwork.noop",
        "schedule": {"kind": "interval", "seconds": 60},
        "createdAt": at,
        "updatedAt": at,
        "version": 1,
    }
    return Job.model_validate({**base, **fields})


def test_changed_fields_compares_the_spec_not_the_bookkeeping() -> None:
    now = _job()
    then = _job(priority=5, labels={"team": "x"}, version=2, nextRunAt="2026-01-02T00:00:00Z")
    assert changed_fields(now, then) == [("priority", 0, 5), ("labels", {}, {"team": "x"})]
    assert changed_fields(now, _job(version=7)) == []


def test_tables_cut_flexible_columns_to_fit() -> None:
    columns = [Column("ID"), Column("NAME", flexible=True, minimum=4), Column("NOTE")]
    rows = [["1", "n" * 100, "fixed"]]
    lines = table(columns, rows, limit=30).splitlines()
    assert all(len(line) <= 30 for line in lines)
    assert lines[1].startswith("1   nnn")
    assert "…" in lines[1]
    assert lines[1].endswith("fixed")


def test_a_column_that_may_go_is_left_out_rather_than_cut_below_its_title() -> None:
    columns = [Column("ID"), Column("WIDE"), Column("REASON", flexible=True, minimum=0)]
    rows = [["1", "w" * 20, "misfire"]]
    assert table(columns, rows, limit=26).splitlines()[0].split() == ["ID", "WIDE"]
    assert "REASON" in table(columns, rows, limit=80)
