"""API.md's DST rules for cron schedules.

A skipped wall time fires shifted by the gap (zoneinfo's fold=0 reading); a repeated one
fires once, in the first pass, unless the hour field is * or a step, when it fires in both
passes; no instant twice. test_schedule_rules.py checks the same rules by brute force.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from tickwork_shared.schedule import CronSchedule, fire_times, next_fire_time

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def fires(expression: str, zone: str, after: datetime, until: datetime) -> list[datetime]:
    return fire_times(CronSchedule(expression, zone), after, until, limit=1000)


def local(times: list[datetime], zone: str) -> list[str]:
    return [t.astimezone(ZoneInfo(zone)).isoformat() for t in times]


# Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00Z.


def test_berlin_skipped_time_fires_shifted_by_the_gap() -> None:
    got = fires("30 2 * * *", BERLIN, utc(2026, 3, 27, 12), utc(2026, 3, 30, 12))
    assert got == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    assert local(got, BERLIN)[1] == "2026-03-29T03:30:00+02:00"


def test_berlin_spring_forward_never_fires_an_instant_twice() -> None:
    got = fires("*/30 * * * *", BERLIN, utc(2026, 3, 29, 0), utc(2026, 3, 29, 2))
    # 02:00 and 02:30 do not exist; read with fold=0 they are 03:00 and 03:30 CEST.
    assert local(got, BERLIN) == [
        "2026-03-29T01:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:30:00+02:00",
        "2026-03-29T04:00:00+02:00",
    ]
    day = (utc(2026, 3, 28, 12), utc(2026, 3, 29, 12))
    assert fires("0 2,3 * * *", BERLIN, *day) == [utc(2026, 3, 29, 1)]
    assert len(fires("* 2 * * *", BERLIN, *day)) == 60


def test_berlin_skipped_time_fires_even_when_asked_from_after_the_jump() -> None:
    # 01:10Z is 03:10 CEST, later on the wall than 02:30; the shifted 02:30 is still due.
    assert next_fire_time(CronSchedule("30 2 * * *", BERLIN), utc(2026, 3, 29, 1, 10)) == utc(
        2026, 3, 29, 1, 30
    )


# Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00Z; 02:00-02:59 happens twice.


@pytest.mark.parametrize("expression", ["30 2 * * *", "0,30 2 * * *", "30 1-3 * * *", "30 2 * * 0"])
def test_berlin_fixed_hour_fires_once_in_the_first_pass(expression: str) -> None:
    got = fires(expression, BERLIN, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12))
    assert "2026-10-25T02:30:00+02:00" in local(got, BERLIN)
    assert "2026-10-25T02:30:00+01:00" not in local(got, BERLIN)


def test_berlin_fixed_hour_every_minute_stays_in_the_first_pass() -> None:
    got = fires("* 2 * * *", BERLIN, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12))
    assert got == [utc(2026, 10, 25, 0) + timedelta(minutes=m) for m in range(60)]


def test_berlin_star_hour_fires_in_both_passes() -> None:
    got = fires("*/30 * * * *", BERLIN, utc(2026, 10, 24, 23), utc(2026, 10, 25, 2))
    assert local(got, BERLIN) == [
        "2026-10-25T01:30:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]


@pytest.mark.parametrize("expression", ["30 */2 * * *", "30 0-4/2 * * *", "30 2,*/5 * * *"])
def test_berlin_step_hour_fires_in_both_passes(expression: str) -> None:
    got = fires(expression, BERLIN, utc(2026, 10, 24, 23), utc(2026, 10, 25, 2))
    assert local(got, BERLIN) == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"]


def test_berlin_second_pass_is_found_from_inside_the_first() -> None:
    schedule = CronSchedule("*/30 * * * *", BERLIN)
    assert next_fire_time(schedule, utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 25, 1)
    # A fixed hour asked from inside the second pass waits for the next day.
    fixed = CronSchedule("30 2 * * *", BERLIN)
    assert next_fire_time(fixed, utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 26, 1, 30)


def test_six_field_star_hour_fires_in_both_passes() -> None:
    got = fires("0 0 * * * *", BERLIN, utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 2))
    assert got == [utc(2026, 10, 25, 0), utc(2026, 10, 25, 1), utc(2026, 10, 25, 2)]


# New York: 2026-03-08 02:00 EST becomes 03:00 EDT; 2026-11-01 02:00 EDT becomes 01:00 EST.


def test_new_york_skipped_time_fires_shifted_by_the_gap() -> None:
    got = fires("30 2 * * *", NEW_YORK, utc(2026, 3, 7, 12), utc(2026, 3, 8, 12))
    assert local(got, NEW_YORK) == ["2026-03-08T03:30:00-04:00"]
    assert got == [utc(2026, 3, 8, 7, 30)]


def test_new_york_fixed_hour_fires_once() -> None:
    got = fires("30 1 * * *", NEW_YORK, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12))
    assert local(got, NEW_YORK) == ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]


def test_new_york_star_and_step_hours_fire_in_both_passes() -> None:
    window = (utc(2026, 11, 1, 4, 45), utc(2026, 11, 1, 7))
    assert local(fires("*/30 * * * *", NEW_YORK, *window), NEW_YORK) == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T01:30:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]
    assert fires("@hourly", NEW_YORK, *window) == [
        utc(2026, 11, 1, 5),
        utc(2026, 11, 1, 6),
        utc(2026, 11, 1, 7),
    ]
    assert fires("0 1-23/2 * * *", NEW_YORK, *window) == [utc(2026, 11, 1, 5), utc(2026, 11, 1, 6)]
