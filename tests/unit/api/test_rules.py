"""The api's pure pieces: field naming, job rules, audit diffs, paging totals, roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tickwork_api.actor import role_allows
from tickwork_api.errors import ValidationFailed, field_name
from tickwork_api.http_errors import request_field_errors
from tickwork_api.keys import KEY_PREFIX, generate_key, hash_key
from tickwork_api.repositories.paging import count_bound, total_from_page
from tickwork_api.schemas.common import Paging
from tickwork_api.services.audit import diff
from tickwork_api.services.job_rules import (
    args_errors,
    args_limit_errors,
    check_args,
    first_fire_time,
    parse_job_schedule,
)
from tickwork_shared.enums import Role
from tickwork_shared.schedule import DateSchedule, IntervalSchedule

NOW = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)


def test_field_names_are_dotted_with_indexes() -> None:
    assert field_name(["schedule", "expression"]) == "schedule.expression"
    assert field_name(["args", "items", 0, "url"]) == "args.items[0].url"
    assert field_name([]) == ""


def test_request_errors_drop_their_source() -> None:
    errors = request_field_errors(
        [
            {"loc": ("body", "schedule", "expression"), "msg": "bad"},
            {"loc": ("query", "perPage"), "msg": "too big"},
            {"loc": ("body", 7), "msg": "JSON decode error", "type": "json_invalid"},
            {"loc": ("body",), "msg": "Field required"},
        ]
    )
    assert [e.field for e in errors] == ["schedule.expression", "perPage", "body", "body"]


def test_schedule_errors_name_the_schedule_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_job_schedule({"kind": "cron", "expression": "* *"}, NOW)
    assert [e.field for e in caught.value.errors] == ["schedule.expression"]
    with pytest.raises(ValidationFailed) as caught:
        parse_job_schedule({"kind": "date", "runAt": "0001-01-01T00:00:00+01:00"}, NOW)
    assert caught.value.errors[0].field.startswith("schedule")


def test_interval_starts_at_creation() -> None:
    schedule = parse_job_schedule({"kind": "interval", "seconds": 30}, NOW)
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.start_at == NOW
    assert first_fire_time(schedule, NOW, 300) == NOW + timedelta(seconds=30)


def test_a_past_date_runs_only_within_the_grace() -> None:
    future = DateSchedule(NOW + timedelta(minutes=1))
    assert first_fire_time(future, NOW, 0) == future.run_at
    recent = DateSchedule(NOW - timedelta(seconds=300))
    assert first_fire_time(recent, NOW, 300) == recent.run_at
    with pytest.raises(ValidationFailed) as caught:
        first_fire_time(recent, NOW, 299)
    assert caught.value.errors[0].field == "schedule.runAt"


SCHEMA = {
    "type": "object",
    "properties": {
        "url": {"type": "string"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["url"],
}


def test_args_errors_name_the_argument() -> None:
    assert args_errors(SCHEMA, {"url": "http://x"}) == []
    assert [e.field for e in args_errors(SCHEMA, {})] == ["args.url"]
    nested = args_errors(SCHEMA, {"url": "x", "headers": {"X-Id": 5}})
    assert [e.field for e in nested] == ["args.headers.X-Id"]


def test_a_broken_params_schema_does_not_blame_the_user() -> None:
    assert args_errors({"type": "no-such-type"}, {"anything": 1}) == []


def test_args_limits() -> None:
    assert args_limit_errors({"blob": "x" * 40_000})[0].field == "args"
    deep: dict[str, object] = {}
    for _ in range(30):
        deep = {"d": deep}
    assert args_limit_errors(deep)[0].field == "args"
    assert check_args(None, {"x": 1}) == []  # unknown function: only limits apply
    for not_plain in (float("nan"), float("inf"), [1, float("-inf")], 10**30):
        assert args_limit_errors({"x": not_plain})[0].field == "args"


def test_args_nested_far_too_deep_are_refused_not_a_crash() -> None:
    # Found by drill 8 (tests/drills/test_api_hostile.py): 500 levels made the checks
    # recurse past Python's limit, and the api answered 500.
    for depth in (21, 500, 5_000):
        deep: dict[str, object] = {}
        for _ in range(depth):
            deep = {"d": [deep]}
        errors = args_limit_errors(deep)
        assert [e.field for e in errors] == ["args"]
        assert "nested deeper" in errors[0].message
    shallow: dict[str, object] = {}
    for _ in range(19):
        shallow = {"d": shallow}
    assert args_limit_errors(shallow) == []


def test_audit_diff_keeps_only_changes() -> None:
    assert diff({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"before": {"b": 2}, "after": {"b": 3}}
    assert diff(None, {"a": 1}) == {"before": {}, "after": {"a": 1}}
    assert diff({"a": 1}, None) == {"before": {"a": 1}, "after": {}}
    assert diff({"a": None}, {}) == {"before": {"a": None}, "after": {}}


@pytest.mark.parametrize(
    ("page", "per_page", "rows", "total"),
    [(1, 20, 0, 0), (1, 20, 5, 5), (3, 10, 4, 24), (1, 20, 20, None), (4, 10, 0, None)],
)
def test_a_short_page_reveals_the_total(
    page: int, per_page: int, rows: int, total: int | None
) -> None:
    assert total_from_page(Paging(page, per_page), rows) == total


def test_a_bounded_count_reaches_past_the_page() -> None:
    assert count_bound(Paging(1, 20), 10_000) == 10_000
    assert count_bound(Paging(600, 20), 10_000) == 12_001


def test_roles_are_ordered() -> None:
    assert role_allows(Role.ADMIN, Role.OPERATOR)
    assert role_allows(Role.OPERATOR, Role.OPERATOR)
    assert not role_allows(Role.VIEWER, Role.OPERATOR)
    assert not role_allows(Role.OPERATOR, Role.ADMIN)


def test_keys_are_random_and_hashed() -> None:
    first, second = generate_key(), generate_key()
    assert first != second
    assert first.startswith(KEY_PREFIX)
    assert len(first) > 40
    assert hash_key(first) == hash_key(first)
    assert len(hash_key(first)) == 64
