"""Audit rows: who changed what, written in the same transaction as the change.

Values under secret-looking keys are recorded as `***` (`tickwork_shared.masking`): the
audit log is read by people who must not learn a job's credentials from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from tickwork_shared.db.models import AuditLog
from tickwork_shared.masking import mask_args

_INSERT = insert(cast(Table, AuditLog.__table__))


def diff(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """`{"before": {...}, "after": {...}}` holding only the fields that differ.

    A creation has no `before` (every field is new), a removal no `after`.
    """
    old, new = before or {}, after or {}
    changed = [k for k in {**old, **new} if old.get(k) != new.get(k) or (k in old) != (k in new)]
    return {
        "before": {k: old[k] for k in changed if k in old},
        "after": {k: new[k] for k in changed if k in new},
    }


@dataclass(frozen=True)
class Entry:
    """One audit row, in the order a sentence says it: who did what to which entity, what
    changed, when."""

    actor_id: str
    action: str
    entity_type: str
    entity_id: str | int
    changes: Mapping[str, Any] | None
    at: datetime

    def values(self) -> dict[str, Any]:
        return {
            "occurred_at": self.at,
            "actor_id": self.actor_id,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": str(self.entity_id),
            "changes": mask_args(dict(self.changes)) if self.changes is not None else None,
        }


def record(
    session: AsyncSession,
    actor_id: str,
    action: str,
    entity_type: str,
    entity_id: str | int,
    changes: Mapping[str, Any] | None,
    at: datetime,
) -> None:
    """Add the audit row to the session (written at its next flush).

    Positional, in the order of `Entry` (each service's changes call it the same way,
    with no wrapper).
    """
    entry = Entry(actor_id, action, entity_type, entity_id, changes, at)
    session.add(AuditLog(**entry.values()))


async def write(connection: AsyncConnection, entry: Entry) -> None:
    """Insert the audit row now, through Core (the trigger's path, where the ORM's unit
    of work cost more than the statement)."""
    await connection.execute(_INSERT, entry.values())
