"""`RunRow`: a run on the executor's fast path, as plain data.

The claim reads the `job_executions` rows it locks into `RunRow`s (Core statements, no
ORM objects), and every write of the fast path goes the same way: the new row is the
old one with the changes (`changed`), and the batch statement writes those columns of
it (`row_writes`). What the executor holds is therefore exactly what it committed,
without reading it back, and it is what the run's events are built from
(`tickwork_shared.views.execution_fields`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, CursorResult, Select, Table, Update, bindparam, case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter
from tickwork_shared.db.models import JobExecution


@dataclass(frozen=True)
class RunRow:
    """The columns of one `job_executions` row the executor reads or writes.

    Frozen: a change is a new row (`changed`). Two or three rows are made per run, so
    they are made by filling the instance's `__dict__` at once, not through the frozen
    `__init__` (an `object.__setattr__` per field) or `dataclasses.replace` (that `__init__`
    again): ≈ 2.5 µs a row instead of 5 and 10.
    """

    execution_id: str
    job_id: int
    attempt: int
    scheduled_at: datetime
    due_at: datetime
    trigger: str
    status: str
    reason: str | None
    task_function: str
    args: dict[str, Any]
    timeout_seconds: int
    idempotency_key: str
    queued_at: datetime
    published_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    executor_id: str | None
    host_name: str | None
    lease_token: str | None
    lease_expires_at: datetime | None
    next_publish_at: datetime | None
    publish_claim: str | None
    cancel_requested_at: datetime | None
    result: Any
    error: str | None
    retry_handled: bool
    triggered_by_id: str | None

    @classmethod
    def of(cls, values: Iterable[Any]) -> RunRow:
        """The row of `values`, one per column of `RUN_COLUMNS` in order (as `select_runs`
        reads them)."""
        row = object.__new__(cls)
        row.__dict__.update(zip(RUN_COLUMNS, values, strict=True))
        return row

    def changed(self, **changes: Any) -> RunRow:
        """This row with `changes` (column: value), as a write of them leaves it."""
        if not changes.keys() <= _COLUMNS:
            raise TypeError(f"not columns of a run: {sorted(changes.keys() - _COLUMNS)}")
        row = object.__new__(RunRow)
        row.__dict__.update(self.__dict__, **changes)
        return row


RUN_COLUMNS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(RunRow))
"""The columns of a `RunRow`, in its fields' order (a row of them builds one)."""
_COLUMNS = frozenset(RUN_COLUMNS)


EXECUTIONS = cast(Table, JobExecution.__table__)
_RESULT = JSON(none_as_null=True)
"""The result column's values bind as JSON, where a Python None is SQL NULL."""


def select_runs() -> Select[Any]:
    """The `RunRow` columns of `job_executions` (a row of them builds a `RunRow`)."""
    return select(*[EXECUTIONS.c[name] for name in RUN_COLUMNS])


@dataclass(frozen=True)
class RowWrite:
    """One kind of batch UPDATE of the fast path: it writes these columns of `RunRow`s.

    Rows of one batch are written by one statement, built once per batch size and
    executed many times (built per call, a statement costs about as much Python as
    executing it). `shared` columns hold the same value in every row of a batch (bound
    once); `per_row` ones hold a value for each row (`CASE WHEN execution_id = :id0 THEN
    :<column>0 …`). Only rows still in status `expected`, and whose `fence` columns hold
    the row's values, are written: a write that lost a race changes nothing.
    """

    expected: str
    shared: tuple[str, ...]
    per_row: tuple[str, ...] = ()
    fence: tuple[str, ...] = ()

    def params(self, rows: Sequence[RunRow]) -> dict[str, Any]:
        """The parameters of the statement that writes `rows` (each as it is to be)."""
        first = rows[0]
        params = {name: getattr(first, name) for name in self.shared}
        each = self.per_row + self.fence
        for index, row in enumerate(rows):
            params[f"id{index}"] = row.execution_id
            for name in each:
                params[f"{name}{index}"] = getattr(row, name)
        return params


@functools.cache
def _statement(write: RowWrite, count: int) -> Update:
    ids: list[BindParameter[Any]] = [bindparam(f"id{index}") for index in range(count)]

    def per_row(name: str) -> Any:
        return case(
            *[
                (
                    EXECUTIONS.c.execution_id == row_id,
                    bindparam(f"{name}{index}", type_=_type(name)),
                )
                for index, row_id in enumerate(ids)
            ]
        )

    return (
        update(EXECUTIONS)
        .where(
            EXECUTIONS.c.execution_id.in_(ids),
            EXECUTIONS.c.status == write.expected,
            *[EXECUTIONS.c[name] == per_row(name) for name in write.fence],
        )
        .values(
            **{name: bindparam(name, type_=_type(name)) for name in write.shared},
            **{name: per_row(name) for name in write.per_row},
        )
    )


def _type(name: str) -> Any:
    return _RESULT if name == "result" else EXECUTIONS.c[name].type


async def write_rows(connection: AsyncConnection, write: RowWrite, rows: Sequence[RunRow]) -> int:
    """Write `rows` (each as it is to be) with one statement; how many it matched."""
    result = await connection.execute(_statement(write, len(rows)), write.params(rows))
    return cast(CursorResult[Any], result).rowcount
