"""Job types (categories) and task functions (what executors offer)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator
from tickwork_shared.camel import CamelModel, UtcDatetime

from tickwork_api.schemas.common import not_null
from tickwork_api.schemas.names import PrintableName

TypeName = Annotated[PrintableName, Field(max_length=100)]
TypeDescription = Annotated[str, Field(max_length=10_000)]


class JobTypeCreate(CamelModel):
    model_config = ConfigDict(extra="forbid")

    name: TypeName
    description: TypeDescription | None = None


class JobTypeUpdate(CamelModel):
    model_config = ConfigDict(extra="forbid")

    name: TypeName | None = None
    description: TypeDescription | None = None

    _not_null = field_validator("name", mode="after")(not_null)


class JobTypePublic(CamelModel):
    id: int
    name: str
    description: str | None = None


class TaskFunctionPublic(CamelModel):
    id: int
    name: str
    description: str | None = None
    params_schema: dict[str, Any]
    is_available: bool = Field(description="an executor offered it within the last TTL")
    last_seen_at: UtcDatetime
    pools: list[str] = Field(
        default_factory=list, description="the pools whose executors have offered it"
    )
