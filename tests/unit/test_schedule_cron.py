"""Cron expressions mean what they mean in crontab, not what APScheduler's from_crontab does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tickwork_shared.schedule import CronSchedule, ScheduleError, fire_times, next_fire_times


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def fires(expression: str, after: datetime, until: datetime) -> list[datetime]:
    return fire_times(CronSchedule(expression, "UTC"), after, until, limit=1000)


def days(expression: str, after: datetime, until: datetime) -> list[str]:
    return [t.strftime("%Y-%m-%d %a") for t in fires(expression, after, until)]


def test_monday_is_1() -> None:
    # from_crontab would read 1 as Tuesday.
    assert days("0 0 * * 1", utc(2026, 3, 1), utc(2026, 3, 17)) == [
        "2026-03-02 Mon",
        "2026-03-09 Mon",
        "2026-03-16 Mon",
    ]


@pytest.mark.parametrize("sunday", ["0", "7", "sun", "SUN", "Sun"])
def test_0_and_7_are_sunday(sunday: str) -> None:
    assert days(f"0 0 * * {sunday}", utc(2026, 3, 1), utc(2026, 3, 16)) == [
        "2026-03-08 Sun",
        "2026-03-15 Sun",
    ]


@pytest.mark.parametrize("weekdays", ["MON-FRI", "1-5", "mon,tue,wed,thu,fri", "1-2,wed-5"])
def test_weekday_ranges_and_names(weekdays: str) -> None:
    assert days(f"0 9 * * {weekdays}", utc(2026, 3, 6, 10), utc(2026, 3, 11, 9)) == [
        "2026-03-09 Mon",
        "2026-03-10 Tue",
        "2026-03-11 Wed",
    ]


@pytest.mark.parametrize("weekend", ["6-7", "sat-sun", "sat-7", "6-sun", "0,6", "sat-sun/1"])
def test_ranges_may_end_on_sunday_as_7(weekend: str) -> None:
    assert days(f"0 0 * * {weekend}", utc(2026, 3, 2), utc(2026, 3, 8)) == [
        "2026-03-07 Sat",
        "2026-03-08 Sun",
    ]


def test_sun_to_sun_is_only_sunday() -> None:
    assert days("0 0 * * sun-sun", utc(2026, 3, 2), utc(2026, 3, 9)) == ["2026-03-08 Sun"]


def test_weekday_step_counts_from_sunday() -> None:
    # */2 over 0-7 is 0,2,4,6: Sunday, Tuesday, Thursday, Saturday.
    assert [d[-3:] for d in days("0 0 * * */2", utc(2026, 3, 1), utc(2026, 3, 8))] == [
        "Tue",
        "Thu",
        "Sat",
        "Sun",
    ]


@pytest.mark.parametrize("months", ["jan,jul", "JAN,Jul", "1,7", "jan-jul/6", "1/6"])
def test_month_names(months: str) -> None:
    assert days(f"0 0 1 {months} *", utc(2026, 1, 1), utc(2027, 12, 31)) == [
        "2026-07-01 Wed",
        "2027-01-01 Fri",
        "2027-07-01 Thu",
    ]


def test_day_of_month_or_day_of_week() -> None:
    # Both restricted: the 13th of every month AND every Friday (Vixie cron's OR rule).
    got = days("0 0 13 * 5", utc(2026, 4, 1), utc(2026, 5, 31))
    assert got == [
        "2026-04-03 Fri",
        "2026-04-10 Fri",
        "2026-04-13 Mon",
        "2026-04-17 Fri",
        "2026-04-24 Fri",
        "2026-05-01 Fri",
        "2026-05-08 Fri",
        "2026-05-13 Wed",
        "2026-05-15 Fri",
        "2026-05-22 Fri",
        "2026-05-29 Fri",
    ]


def test_friday_the_13th_fires_once() -> None:
    assert days("0 0 13 * fri", utc(2026, 2, 10), utc(2026, 2, 16)) == ["2026-02-13 Fri"]


def test_a_star_day_field_means_and() -> None:
    # man 5 crontab: fields are "restricted" when they do not start with *.
    assert days("0 0 * 3 mon", utc(2026, 3, 1), utc(2026, 3, 17)) == [
        "2026-03-02 Mon",
        "2026-03-09 Mon",
        "2026-03-16 Mon",
    ]
    # */10 is 1,11,21,31, ANDed with Monday because it starts with *.
    assert days("0 0 */10 * mon", utc(2026, 3, 1), utc(2026, 5, 31)) == ["2026-05-11 Mon"]


def test_29_february_only_in_leap_years() -> None:
    assert days("0 0 29 2 *", utc(2026, 1, 1), utc(2033, 1, 1)) == [
        "2028-02-29 Tue",
        "2032-02-29 Sun",
    ]
    # 2100 is not a leap year.
    assert next_fire_times(CronSchedule("0 0 29 2 *", "UTC"), utc(2096, 3, 1), 1) == [
        utc(2104, 2, 29)
    ]


def test_31st_skips_shorter_months() -> None:
    assert [d[:10] for d in days("0 0 31 * *", utc(2026, 1, 1), utc(2026, 12, 31))] == [
        "2026-01-31",
        "2026-03-31",
        "2026-05-31",
        "2026-07-31",
        "2026-08-31",
        "2026-10-31",
        "2026-12-31",
    ]


def test_a_day_that_never_occurs_still_fires_by_weekday() -> None:
    assert days("0 0 30 2 mon", utc(2026, 1, 1), utc(2026, 3, 1)) == [
        "2026-02-02 Mon",
        "2026-02-09 Mon",
        "2026-02-16 Mon",
        "2026-02-23 Mon",
    ]


def test_six_fields_put_seconds_first() -> None:
    assert fires("*/20 30 9 * * *", utc(2026, 1, 1), utc(2026, 1, 1, 9, 31)) == [
        utc(2026, 1, 1, 9, 30, 0),
        utc(2026, 1, 1, 9, 30, 20),
        utc(2026, 1, 1, 9, 30, 40),
    ]
    assert fires("5,10 * * * * *", utc(2026, 1, 1), utc(2026, 1, 1, 0, 1)) == [
        utc(2026, 1, 1, 0, 0, 5),
        utc(2026, 1, 1, 0, 0, 10),
    ]


def test_ranges_steps_and_lists() -> None:
    minutes = [t.minute for t in fires("1-10/3,45,50-52 0 * * *", utc(2026, 1, 1), utc(2026, 1, 2))]
    assert minutes == [1, 4, 7, 10, 45, 50, 51, 52]
    day = (utc(2025, 12, 31, 23, 59), utc(2026, 1, 1, 23, 59))
    assert [t.minute for t in fires("*/15 0 * * *", *day)] == [0, 15, 30, 45]
    assert [t.hour for t in fires("0 */7 * * *", *day)] == [0, 7, 14, 21]
    assert [t.minute for t in fires("*/45 0 * * *", *day)] == [0, 45]
    assert [t.minute for t in fires("50/5 0 * * *", *day)] == [50, 55]


@pytest.mark.parametrize(
    ("alias", "equivalent"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@ANNUALLY", "0 0 1 1 *"),
    ],
)
def test_aliases(alias: str, equivalent: str) -> None:
    after = utc(2026, 2, 27, 0, 30)
    expected = next_fire_times(CronSchedule(equivalent, "UTC"), after, 3)
    assert next_fire_times(CronSchedule(alias, "UTC"), after, 3) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "the expression is empty"),
        ("* * * *", "expected 5 or 6 fields, got 4"),
        ("0 0 0 * * * 2026", "expected 5 or 6 fields, got 7"),
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("60 * * * * *", "second field: 60 is out of range 0-59"),
        ("* 24 * * *", "hour field: 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("* * 32 * *", "day-of-month field: 32 is out of range 1-31"),
        ("* * * 13 *", "month field: 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("* * * foo *", "month field: 'foo' is neither a number nor a name"),
        ("* * * * mon-fry", "day-of-week field: 'fry' is neither a number nor a name"),
        ("* * * * jan", "day-of-week field: 'jan'"),
        ("x * * * *", "minute field: 'x' is not a number"),
        ("*/0 * * * *", "minute field: step '0' must be a whole number of at least 1"),
        ("1-5/x * * * *", "minute field: step 'x'"),
        ("5-1 * * * *", "minute field: range '5-1' runs backwards"),
        ("* * * * 5-0", "day-of-week field: range '5-0' runs backwards"),
        ("1,,2 * * * *", "minute field: empty value"),
        ("-1 * * * *", "minute field: cannot read '-1'"),
        ("* * ² * *", "day-of-month field: cannot read '²'"),
        ("0 0 L * *", "day-of-month field: 'L' uses a cron extension"),
        ("0 0 15W * *", "day-of-month field: '15W' uses a cron extension"),
        ("0 0 ? * mon", "day-of-month field: '?' uses a cron extension"),
        ("0 0 * * 5#3", "day-of-week field: '5#3' uses a cron extension"),
        ("H/15 * * * *", "minute field: 'H/15' uses a cron extension"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires: no day in the day-of-month field occurs in apr"),
        ("@reboot", "@reboot is not supported"),
        ("@every 5m", "unknown alias '@every"),
        ("0 " * 600, "longer than 1000 characters"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        CronSchedule(expression, "UTC")
    assert caught.value.field == "expression"
    assert message in str(caught.value)
