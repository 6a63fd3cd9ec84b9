"""Schedules: parsing user JSON, the dict round trip, interval and date maths, jitter."""

from __future__ import annotations

import itertools
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tickwork_shared.errors import TickworkError
from tickwork_shared.schedule import (
    CronSchedule,
    DateSchedule,
    IntervalSchedule,
    Schedule,
    ScheduleError,
    fire_times,
    jitter_offset,
    next_fire_time,
    next_fire_times,
    parse_schedule,
    schedule_to_dict,
    schedule_zone,
)

CREATED = datetime(2026, 5, 4, 12, 0, 7, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def parse(data: Any) -> Schedule:
    return parse_schedule(data, default_start=CREATED)


# --- parse_schedule ---------------------------------------------------------------------


def test_parse_cron() -> None:
    data = {"kind": "cron", "expression": "0 2 * * *", "timezone": "Europe/Berlin"}
    assert parse(data) == CronSchedule("0 2 * * *", "Europe/Berlin")


def test_parse_cron_defaults_to_utc_and_collapses_whitespace() -> None:
    assert parse({"kind": "cron", "expression": "  0   2 * *\t* "}) == CronSchedule(
        "0 2 * * *", "UTC"
    )
    assert parse({"kind": "cron", "expression": "@daily", "timezone": None}) == CronSchedule(
        "@daily", "UTC"
    )


def test_parse_interval_without_start_starts_at_creation() -> None:
    assert parse({"kind": "interval", "seconds": 90}) == IntervalSchedule(90, CREATED)
    assert parse({"kind": "interval", "seconds": 90.0, "startAt": None}) == IntervalSchedule(
        90, CREATED
    )


def test_parse_times_with_any_offset_become_utc() -> None:
    schedule = parse({"kind": "interval", "seconds": 60, "startAt": "2026-03-29T03:30:00+02:00"})
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.start_at == utc(2026, 3, 29, 1, 30)
    assert schedule.start_at.tzinfo is UTC
    aware = datetime(2026, 7, 1, 9, tzinfo=BERLIN)
    date = parse({"kind": "date", "runAt": aware})
    assert isinstance(date, DateSchedule)
    assert date.run_at == utc(2026, 7, 1, 7)
    assert date.run_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ([], "kind", "must be an object"),
        ({}, "kind", "cron, interval, date"),
        ({"kind": "weekly"}, "kind", "cron, interval, date"),
        ({"kind": 3}, "kind", "cron, interval, date"),
        ({"kind": "cron"}, "expression", "is required"),
        ({"kind": "cron", "expression": 5}, "expression", "must be a string"),
        ({"kind": "cron", "expression": "* * * *"}, "expression", "expected 5 or 6 fields, got 4"),
        ({"kind": "cron", "expression": "61 * * * *"}, "expression", "minute field: 61 is out"),
        ({"kind": "cron", "expression": "@reboot"}, "expression", "@reboot is not supported"),
        ({"kind": "cron", "expression": "* * * * *", "timezone": "Mars/Olympus"}, "timezone", ""),
        ({"kind": "cron", "expression": "* * * * *", "timezone": "localtime"}, "timezone", ""),
        ({"kind": "cron", "expression": "* * * * *", "timezone": "Europe"}, "timezone", ""),
        ({"kind": "cron", "expression": "* * * * *", "timezone": "/etc/passwd"}, "timezone", ""),
        ({"kind": "cron", "expression": "* * * * *", "timezone": 1}, "timezone", ""),
        ({"kind": "cron", "expression": "* * * * *", "seconds": 5}, "seconds", "not a field"),
        ({"kind": "interval"}, "seconds", "is required"),
        ({"kind": "interval", "seconds": 0}, "seconds", "between 1 and 31622400"),
        ({"kind": "interval", "seconds": 31_622_401}, "seconds", "between 1 and 31622400"),
        ({"kind": "interval", "seconds": 1.5}, "seconds", "whole number"),
        ({"kind": "interval", "seconds": True}, "seconds", "whole number"),
        ({"kind": "interval", "seconds": "60"}, "seconds", "whole number"),
        (
            {"kind": "interval", "seconds": 60, "startAt": "2026-01-01T00:00:00"},
            "startAt",
            "offset",
        ),
        ({"kind": "interval", "seconds": 60, "startAt": "tomorrow"}, "startAt", "ISO-8601"),
        ({"kind": "interval", "seconds": 60, "startAt": 1_700_000_000}, "startAt", "ISO-8601"),
        ({"kind": "interval", "seconds": 60, "timezone": "UTC"}, "timezone", "not a field"),
        ({"kind": "date"}, "runAt", "is required"),
        ({"kind": "date", "runAt": "0001-01-01T00:00:00+01:00"}, "runAt", "out of range"),
        ({"kind": "date", "runAt": "2026-01-01 10:00"}, "runAt", "no UTC offset"),
        ({"kind": "date", "runAt": datetime(2026, 1, 1)}, "runAt", "no UTC offset"),
        ({"kind": "date", "runAt": "2026-01-01T00:00:00Z", "startAt": "x"}, "startAt", ""),
    ],
)
def test_parse_errors_name_the_field(data: Any, field: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse(data)
    assert caught.value.field == field
    assert message in str(caught.value)
    assert str(caught.value) == caught.value.message


def test_schedule_error_is_a_tickwork_error_and_pickles() -> None:
    err = ScheduleError("expression", "expected 5 or 6 fields, got 4")
    assert isinstance(err, TickworkError)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.field, str(copy)) == ("expression", "expected 5 or 6 fields, got 4")


def test_constructors_validate_too() -> None:
    with pytest.raises(ScheduleError) as caught:
        IntervalSchedule(60, datetime(2026, 1, 1))
    assert caught.value.field == "startAt"
    with pytest.raises(ScheduleError) as caught:
        CronSchedule("0 0 30 2 *", "UTC")
    assert caught.value.field == "expression"


def test_naive_default_start_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="default_start"):
        parse_schedule({"kind": "interval", "seconds": 5}, default_start=datetime(2026, 1, 1))


# --- schedule_to_dict and schedule_zone --------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (
            CronSchedule("*/15 9-17 * * MON-FRI", "America/New_York"),
            {"kind": "cron", "expression": "*/15 9-17 * * MON-FRI", "timezone": "America/New_York"},
        ),
        (
            IntervalSchedule(3600, datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)),
            {"kind": "interval", "seconds": 3600, "startAt": "2026-03-29T01:30:00Z"},
        ),
        (
            IntervalSchedule(5, utc(2026, 1, 1, 0, 0, 0) + timedelta(microseconds=250)),
            {"kind": "interval", "seconds": 5, "startAt": "2026-01-01T00:00:00.000250Z"},
        ),
        (
            DateSchedule(datetime(2026, 12, 24, 18, tzinfo=timezone(timedelta(hours=-5)))),
            {"kind": "date", "runAt": "2026-12-24T23:00:00Z"},
        ),
    ],
)
def test_schedule_to_dict_round_trips(schedule: Schedule, expected: dict[str, Any]) -> None:
    assert schedule_to_dict(schedule) == expected
    assert parse_schedule(expected, default_start=utc(1999, 1, 1)) == schedule


def test_schedule_zone() -> None:
    assert schedule_zone(CronSchedule("0 2 * * *", "Europe/Berlin")) == BERLIN
    assert schedule_zone(IntervalSchedule(60, CREATED)) == ZoneInfo("UTC")
    assert schedule_zone(DateSchedule(CREATED)) == ZoneInfo("UTC")


# --- fire times: windows, limits, interval, date ---------------------------------------


def test_window_excludes_after_and_includes_until() -> None:
    hourly = CronSchedule("0 * * * *", "UTC")
    assert fire_times(hourly, utc(2026, 1, 1, 1), utc(2026, 1, 1, 3), limit=10) == [
        utc(2026, 1, 1, 2),
        utc(2026, 1, 1, 3),
    ]
    assert fire_times(hourly, utc(2026, 1, 1, 1), utc(2026, 1, 1, 1, 59), limit=10) == []


def test_limit_is_honoured() -> None:
    minutely = CronSchedule("* * * * *", "UTC")
    times = fire_times(minutely, utc(2026, 1, 1), utc(2027, 1, 1), limit=3)
    assert times == [utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 2), utc(2026, 1, 1, 0, 3)]
    assert fire_times(minutely, utc(2026, 1, 1), utc(2027, 1, 1), limit=0) == []


def test_inputs_in_any_zone_outputs_in_utc() -> None:
    after = datetime(2026, 1, 1, 1, 30, tzinfo=BERLIN)  # 00:30Z
    (first,) = next_fire_times(CronSchedule("0 * * * *", "UTC"), after, 1)
    assert first == utc(2026, 1, 1, 1)
    assert first.tzinfo is UTC


def test_naive_after_is_rejected() -> None:
    with pytest.raises(ValueError, match="after"):
        next_fire_time(CronSchedule("* * * * *", "UTC"), datetime(2026, 1, 1))


def test_interval_from_a_past_start_keeps_its_phase() -> None:
    schedule = IntervalSchedule(90, utc(2020, 1, 1, 0, 0, 10))
    times = fire_times(schedule, utc(2026, 1, 1), utc(2026, 1, 1, 0, 5), limit=100)
    # 2192 days (a multiple of 90 s) separate the two new years, so the phase stays :10.
    assert times[0] == utc(2026, 1, 1, 0, 0, 10)
    assert [b - a for a, b in itertools.pairwise(times)] == [timedelta(seconds=90)] * 3
    assert len(times) == 4


def test_interval_window_edges_and_future_start() -> None:
    schedule = IntervalSchedule(60, utc(2026, 1, 1, 12))
    assert next_fire_times(schedule, utc(2026, 1, 1), 2) == [
        utc(2026, 1, 1, 12),
        utc(2026, 1, 1, 12, 1),
    ]
    # after == a fire time excludes it; until == a fire time includes it.
    assert fire_times(schedule, utc(2026, 1, 1, 12), utc(2026, 1, 1, 12, 2), limit=9) == [
        utc(2026, 1, 1, 12, 1),
        utc(2026, 1, 1, 12, 2),
    ]


def test_interval_ignores_dst() -> None:
    schedule = IntervalSchedule(3600, utc(2026, 3, 29, 0))
    times = next_fire_times(schedule, utc(2026, 3, 28, 23, 30), 3)
    assert times == [utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)]


def test_date_schedule_fires_once() -> None:
    schedule = DateSchedule(utc(2026, 6, 1, 8))
    assert next_fire_times(schedule, utc(2026, 1, 1), 5) == [utc(2026, 6, 1, 8)]
    assert fire_times(schedule, utc(2026, 1, 1), utc(2026, 6, 1, 8), limit=5) == [
        utc(2026, 6, 1, 8)
    ]
    assert fire_times(schedule, utc(2026, 1, 1), utc(2026, 6, 1, 7), limit=5) == []
    assert next_fire_time(schedule, utc(2026, 6, 1, 8)) is None


def test_next_fire_time() -> None:
    schedule = CronSchedule("0 9 * * *", "Europe/Berlin")
    assert next_fire_time(schedule, utc(2026, 1, 1, 12)) == utc(2026, 1, 2, 8)


# --- jitter ----------------------------------------------------------------------------


def test_jitter_is_deterministic_and_in_range() -> None:
    fire = utc(2026, 1, 1, 2)
    offsets = [jitter_offset(job, fire, 30) for job in range(500)]
    assert offsets == [jitter_offset(job, fire, 30) for job in range(500)]
    assert all(timedelta(0) <= o < timedelta(seconds=30) for o in offsets)
    assert all(o.microseconds % 1000 == 0 for o in offsets)
    assert len(set(offsets)) > 450  # spread, not a constant
    mean = sum(o.total_seconds() for o in offsets) / len(offsets)
    assert 12 < mean < 18  # uniform on [0, 30): mean 15, standard error ~0.4


def test_jitter_depends_on_the_instant_not_its_notation() -> None:
    fire = utc(2026, 1, 1, 2)
    same_instant = fire.astimezone(BERLIN)
    assert jitter_offset(7, fire, 60) == jitter_offset(7, same_instant, 60)
    later = [jitter_offset(7, fire + timedelta(minutes=m), 60) for m in range(20)]
    assert len(set(later)) > 15


def test_zero_jitter_and_bad_jitter() -> None:
    assert jitter_offset(1, utc(2026, 1, 1), 0) == timedelta(0)
    with pytest.raises(ValueError, match="negative"):
        jitter_offset(1, utc(2026, 1, 1), -1)
