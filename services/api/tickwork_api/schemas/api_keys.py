"""API keys on the wire: `POST /api-keys` in, a key's public fields out (never its hash,
and the key itself only in the answer to its creation)."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field
from tickwork_shared.camel import CamelModel, UtcDatetime
from tickwork_shared.enums import Role

from tickwork_api.schemas.common import UtcInput
from tickwork_api.schemas.names import PrintableName

KeyName = Annotated[PrintableName, Field(max_length=200)]


class ApiKeyCreate(CamelModel):
    model_config = ConfigDict(extra="forbid")

    name: KeyName
    role: Role
    expires_at: UtcInput | None = Field(
        default=None, description="refused from this time on (401); absent or null: never"
    )


class ApiKeyPublic(CamelModel):
    id: int
    name: str
    role: Role
    prefix: str = Field(description="the key's first characters, to tell keys apart")
    expires_at: UtcDatetime | None
    created_at: UtcDatetime
    last_used_at: UtcDatetime | None = Field(
        description="when the key was last used, to within a minute"
    )
    revoked_at: UtcDatetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="the key itself: shown only in this answer, store it now")
