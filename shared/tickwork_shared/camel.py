"""`CamelModel`: the base of every schema and message (JSON is camelCase both ways)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def format_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z` (API.md: output times end in `Z`)."""
    text = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


# A datetime that serialises as UTC with `Z`; the type of every output time.
UtcDatetime = Annotated[datetime, PlainSerializer(format_utc, return_type=str, when_used="json")]


class CamelModel(BaseModel):
    """snake_case in Python, camelCase on the wire; accepts either name on input."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        from_attributes=True,
        serialize_by_alias=True,
    )
