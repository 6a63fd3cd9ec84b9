"""Shapes every resource shares: the page of a list, error bodies, bounded values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime
from tickwork_shared.camel import CamelModel

T = TypeVar("T")

INT32_MAX = 2_147_483_647
"""Ids and counters are 32-bit columns: a larger number is refused as malformed, not sent
to the database."""
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class Paging:
    page: int = 1
    per_page: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


class Page(CamelModel, Generic[T]):
    """One page of a list: `{items, total, page, perPage}`."""

    items: list[T]
    total: int
    page: int
    per_page: int

    @classmethod
    def of(cls, items: list[T], total: int, paging: Paging) -> Page[T]:
        return cls(items=items, total=total, page=paging.page, per_page=paging.per_page)


class FieldErrorOut(CamelModel):
    field: str
    message: str


class ErrorBody(CamelModel):
    """Every error response: `detail` for people; `errors` names the fields of a 422."""

    detail: str
    errors: list[FieldErrorOut] | None = None


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range") from None


UtcInput = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""An input time that must carry a UTC offset; converted to UTC."""


def not_null(value: object) -> object:
    """A field validator for a change: the field may be left out, but not sent as null
    (a name, a schedule or a flag has no "none")."""
    if value is None:
        raise ValueError("may be left out but not null")
    return value
