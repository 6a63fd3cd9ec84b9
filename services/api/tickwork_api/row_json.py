"""List pages answered straight from Core rows, as the JSON their schemas define.

`GET /jobs` and `GET /executions` are the api's busiest reads; validating a pydantic
model per item only to serialise it again cost more CPU than the query. Rows are
selected in the field order of `JobPublic` / `ExecutionPublic` (`JOB_COLUMNS`,
`EXECUTION_COLUMNS`), so an item is those fields' camelCase names zipped with the row.
orjson writes times as `format_utc` does (UTC with `Z`, microseconds when not zero);
tests hold the bytes equal to the models' JSON. The routes still declare their response
model, so the OpenAPI schema is unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response
from tickwork_shared.camel import format_utc
from tickwork_shared.masking import mask_args
from tickwork_shared.views import ExecutionPublic

from tickwork_api.schemas.common import Paging
from tickwork_api.schemas.jobs import JobPublic

JSON_TYPE = "application/json"


def _aliases(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(field.alias or name for name, field in model.model_fields.items())


JOB_NAMES = _aliases(JobPublic)
EXECUTION_NAMES = _aliases(ExecutionPublic)


def job_item(row: Sequence[Any], *, masked: bool) -> dict[str, Any]:
    """A row of `JOB_COLUMNS` as `JobPublic`'s JSON; `masked`: `args` as non-admin keys
    see them (`shown_to`)."""
    item = dict(zip(JOB_NAMES, row, strict=True))
    if masked:
        item["args"] = mask_args(item["args"])
    return item


def execution_item(row: Sequence[Any]) -> dict[str, Any]:
    """A row of `EXECUTION_COLUMNS` as `ExecutionPublic`'s JSON."""
    return dict(zip(EXECUTION_NAMES, row, strict=True))


def page_response(items: Iterable[dict[str, Any]], total: int, paging: Paging) -> Response:
    """`Page`'s JSON: `{items, total, page, perPage}`."""
    body = {"items": list(items), "total": total, "page": paging.page, "perPage": paging.per_page}
    return Response(dumps(body), media_type=JSON_TYPE)


def dumps(value: Any) -> bytes:
    """JSON bytes, times as `format_utc` writes them (a naive time is UTC: the rows of
    `wire_columns`). orjson refuses integers beyond 64 bits, which a job's `args` or a
    run's `result` may hold: those take `json`."""
    try:
        return orjson.dumps(value, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)
    except orjson.JSONEncodeError:
        text = json.dumps(value, default=_time, ensure_ascii=False, separators=(",", ":"))
        return text.encode()


LONG_NUMBER = re.compile(r"\d{19}")
"""19 digits in a row: maybe an integer beyond 64 bits, which orjson reads as a float."""


def loads(text: str | bytes) -> Any:
    """A JSON column's value, as `json.loads` reads it: orjson parses the common case
    several times faster; `json` reads what orjson would read otherwise (integers of 19
    digits or more) or refuses (`NaN`, lone surrogates)."""
    if isinstance(text, bytes):
        text = text.decode()
    if LONG_NUMBER.search(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _time(value: object) -> str:
    if isinstance(value, datetime):
        return format_utc(value if value.tzinfo else value.replace(tzinfo=UTC))
    raise TypeError(f"{type(value).__name__} is not JSON")
