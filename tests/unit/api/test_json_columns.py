"""`row_json.loads` (the reads engine's JSON columns) reads what `json.loads` reads."""

from __future__ import annotations

import json
import math

import pytest
from tickwork_api.row_json import loads


@pytest.mark.parametrize(
    "text",
    [
        '{"kind": "interval", "seconds": 3600, "startAt": "2030-01-01T00:00:00Z"}',
        '{"b": 1, "a": [1.5, null, true, "\\u00e9"], "a": 2}',  # order, repeated key
        "[]",
        '"text"',
    ],
)
def test_ordinary_json_reads_as_json_reads_it(text: str) -> None:
    value = loads(text)
    assert value == json.loads(text)
    assert json.dumps(value) == json.dumps(json.loads(text))  # key order too


def test_what_orjson_reads_otherwise_or_refuses_is_read_by_json() -> None:
    assert loads('{"n": 9223372036854775808}') == {"n": 9223372036854775808}
    assert loads("[-9223372036854775809, 1]") == [-9223372036854775809, 1]
    assert loads('{"n": 123456789012345678901234567890}') == {"n": 123456789012345678901234567890}
    assert math.isnan(loads('{"x": NaN}')["x"])
    assert loads('"\\ud800"') == "\ud800"
