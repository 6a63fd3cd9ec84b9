"""Who is acting: the API key behind a request, and what its role allows."""

from __future__ import annotations

from dataclasses import dataclass

from tickwork_shared.enums import Role

ROLE_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}
"""admin ⊇ operator (read, trigger, enable/disable, cancel) ⊇ viewer (read)."""


def role_allows(role: Role, minimum: Role) -> bool:
    return ROLE_RANK[role] >= ROLE_RANK[minimum]


@dataclass(frozen=True)
class Actor:
    key_id: int
    role: Role

    @property
    def id(self) -> str:
        """The id recorded as createdById/updatedById/triggeredById and in the audit log."""
        return str(self.key_id)
