"""API.md's DST rules, checked by brute force around real transitions.

For random expressions and windows near gaps and folds of many shapes, `fire_times` must
equal a minute-by-minute reading of the rules: an instant fires when its wall time matches
(in the second pass of a repeated time only if the hour field is * or a step), and a skipped
wall time that matches fires at zoneinfo's fold=0 reading of it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given, settings
from hypothesis import strategies as st
from tickwork_shared.schedule import CronSchedule, fire_times


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# (zone, an instant where its offset changes): gaps and folds of one hour, of 30 minutes
# (Lord Howe), at midnight (Sao Paulo, Havana), of a whole day (Apia skipped 2011-12-30).
TRANSITIONS = [
    ("Europe/Berlin", utc(2026, 3, 29, 1)),
    ("Europe/Berlin", utc(2026, 10, 25, 1)),
    ("America/New_York", utc(2026, 3, 8, 7)),
    ("America/New_York", utc(2026, 11, 1, 6)),
    ("Australia/Lord_Howe", utc(2026, 4, 4, 15)),
    ("Australia/Lord_Howe", utc(2026, 10, 3, 15, 30)),
    ("America/Sao_Paulo", utc(2018, 11, 4, 3)),
    ("America/Sao_Paulo", utc(2019, 2, 17, 2)),
    ("America/Havana", utc(2026, 11, 1, 5)),
    ("Europe/Dublin", utc(2026, 10, 25, 1)),
    ("Pacific/Apia", utc(2011, 12, 30, 10)),
]
# Field texts and the values they select; for hours also whether the text counts as "*"
# or a step (fires in both passes of a repeated hour).
MINUTES = [
    ("0", {0}),
    ("30", {30}),
    ("*/20", {0, 20, 40}),
    ("15,45", {15, 45}),
    ("5/25", {5, 30, 55}),
]
HOURS = [
    ("*", set(range(24)), True),
    ("*/2", set(range(0, 24, 2)), True),
    ("1-5/2", {1, 3, 5}, True),
    ("0,*/5", {0, 5, 10, 15, 20}, True),
    ("2", {2}, False),
    ("0-3", {0, 1, 2, 3}, False),
    ("1,2,23", {1, 2, 23}, False),
    ("0", {0}, False),
]
DAYS = [("*", set(range(1, 32))), ("*/2", set(range(1, 32, 2))), ("1-7", set(range(1, 8)))]
DAYS += [("30,31", {30, 31}), ("4,17,29", {4, 17, 29})]
WEEKDAYS = [("*", set(range(7))), ("0", {0}), ("7", {0}), ("sat-sun", {6, 0})]
WEEKDAYS += [("mon-fri", {1, 2, 3, 4, 5}), ("*/3", {0, 3, 6})]


def matcher(minute: int, hour: int, day: int, weekday: int) -> Callable[[datetime], bool]:
    minutes, (_, hours, _) = MINUTES[minute][1], HOURS[hour]
    (day_text, days), (weekday_text, weekdays) = DAYS[day], WEEKDAYS[weekday]
    either = not day_text.startswith("*") and not weekday_text.startswith("*")

    def matches(wall: datetime) -> bool:
        in_day, in_week = wall.day in days, (wall.weekday() + 1) % 7 in weekdays
        day_ok = (in_day or in_week) if either else (in_day and in_week)
        return wall.minute in minutes and wall.hour in hours and day_ok

    return matches


def brute_force(
    zone: ZoneInfo,
    transition: datetime,
    start: datetime,
    end: datetime,
    matches: Callable[[datetime], bool],
    both_passes: bool,
) -> set[datetime]:
    """Every instant in [start, end) the rules fire at, minute by minute."""
    expected: set[datetime] = set()
    t = start.replace(second=0, microsecond=0)
    while t < end:
        wall = t.astimezone(zone)  # fold=1 marks the second pass of a repeated time
        if matches(wall) and (wall.fold == 0 or both_passes):
            expected.add(t)
        t += timedelta(minutes=1)
    # No instant reads a skipped wall time: they lie between the transition's two readings.
    skipped = (transition - timedelta(minutes=1)).astimezone(zone).replace(tzinfo=None)
    resumed = transition.astimezone(zone).replace(tzinfo=None)
    wall = skipped + timedelta(minutes=1)
    while wall < resumed:
        if matches(wall):
            expected.add(wall.replace(tzinfo=zone).astimezone(UTC))
        wall += timedelta(minutes=1)
    return expected


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    transition=st.sampled_from(TRANSITIONS),
    fields=st.tuples(
        st.integers(0, len(MINUTES) - 1),
        st.integers(0, len(HOURS) - 1),
        st.integers(0, len(DAYS) - 1),
        st.integers(0, len(WEEKDAYS) - 1),
    ),
    start_minutes=st.integers(-14 * 60, 10 * 60),
    length_minutes=st.integers(0, 16 * 60),
    limit=st.sampled_from([1, 3, 1000]),
)
def test_fire_times_follow_the_rules_around_real_transitions(
    transition: tuple[str, datetime],
    fields: tuple[int, int, int, int],
    start_minutes: int,
    length_minutes: int,
    limit: int,
) -> None:
    zone_name, instant = transition
    minute, hour, day, weekday = fields
    expression = f"{MINUTES[minute][0]} {HOURS[hour][0]} {DAYS[day][0]} * {WEEKDAYS[weekday][0]}"
    after = instant + timedelta(minutes=start_minutes, seconds=30)
    until = after + timedelta(minutes=length_minutes)
    zone = ZoneInfo(zone_name)
    end = until + timedelta(minutes=1)
    truth = brute_force(zone, instant, after, end, matcher(*fields), HOURS[hour][2])
    expected = sorted(t for t in truth if after < t <= until)[:limit]
    assert fire_times(CronSchedule(expression, zone_name), after, until, limit=limit) == expected
