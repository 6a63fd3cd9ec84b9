"""The checks of a job's input that need the catalog: its task function, job type and pool.

Each returns the `FieldError`s it finds (none: an empty list), so a change collects every
problem of a request before answering once with `ValidationFailed`. The checks that need
no database are pure rules in `job_rules`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.models import TaskFunction

from tickwork_api.errors import FieldError
from tickwork_api.repositories import catalog


def function_errors(name: str, function: TaskFunction | None) -> list[FieldError]:
    if function is None:
        return [FieldError("taskFunction", f"unknown task function {name!r}; see /task-functions")]
    return []


async def pool_errors(
    session: AsyncSession, pool: str, function: TaskFunction | None
) -> list[FieldError]:
    """A job's function must be offered by its pool: some executor of that pool has
    registered it (ever, like `/task-functions`: an executor restarting or scaled to zero
    does not make its jobs invalid; their runs wait queued)."""
    if function is None or await catalog.pool_offers(session, pool, function.name):
        return []
    return [
        FieldError(
            "taskFunction",
            f"no executor of pool {pool!r} offers {function.name!r}; "
            "see the pools of each function at /task-functions",
        )
    ]


async def job_type_errors(session: AsyncSession, job_type_id: int | None) -> list[FieldError]:
    if job_type_id is not None and await catalog.get_job_type(session, job_type_id) is None:
        return [FieldError("jobTypeId", f"job type {job_type_id} does not exist")]
    return []
