"""Crontab expressions as users know them from cron, and the instants they fire at.

APScheduler's own ``CronTrigger.from_crontab`` is not crontab: it numbers weekdays from
Monday = 0, rejects 7 and ANDs the day-of-month and day-of-week fields, so "0 0 * * 1" would
fire on Tuesdays. This module parses the expression itself (5 fields, or 6 with seconds
first; numbers, month and day names, ``*``, ranges, lists and steps; 0 and 7 are Sunday;
Vixie cron's OR rule for the two day fields) and builds ``CronTrigger`` objects from explicit
field values.

Those triggers run in UTC and only enumerate matching wall-clock readings; APScheduler's own
DST handling is not used (3.11 fires a fixed hour twice on a fall-back day). `Crontab.instants`
reads each wall time in the job's zone with API.md's DST rules.
"""

from __future__ import annotations

import calendar
import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

__all__ = ["Crontab", "CrontabError", "compile_crontab"]

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# APScheduler's weekday names, Monday first (its index 0 is Monday, crontab's 0 is Sunday).
_APS_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_WORD = r"[0-9A-Za-z]+"
_TERM = re.compile(
    rf"^(?:(?P<star>\*)|(?P<first>{_WORD})(?:-(?P<last>{_WORD}))?)(?:/(?P<step>{_WORD}))?$"
)
# Extensions of Quartz and Jenkins that standard cron lacks: L, 15W, LW, 5#3, ?, H/15.
# No month or day name starts with L or H, so these never shadow a name.
_EXTENSION = re.compile(r"[#?]|^[LH]|^[0-9]+[LW]$", re.IGNORECASE)
_MAX_LENGTH = 1000
_ONE_DAY = timedelta(days=1)
# Earlier than any instant a 1970 wall time can be read as (+14:00 is the largest offset).
_BEFORE_1970 = datetime(1969, 12, 30, tzinfo=UTC)


class CrontabError(ValueError):
    """The expression is not a crontab we accept; the message says what is wrong and where."""


@dataclass(frozen=True)
class _Field:
    label: str  # how messages name the field
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DAY = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
# 7 is accepted as a second Sunday and folded onto 0 after parsing.
_WEEKDAY = _Field("day-of-week", 0, 7, _DAY_NAMES)


@dataclass(frozen=True)
class Crontab:
    """A compiled crontab expression.

    `hour_floats` is true when the hour field is ``*`` or contains a step: on a fall-back
    day such an expression fires in both passes of the repeated hour, a fixed hour only in
    the first (API.md's DST rule).
    """

    triggers: tuple[CronTrigger, ...]
    hour_floats: bool

    def walls(self, start: datetime) -> Iterator[datetime]:
        """Naive wall-clock times the expression matches, ascending, each once, from `start`
        (naive, inclusive) until APScheduler's last year (9999)."""
        streams = [_trigger_walls(trigger, start) for trigger in self.triggers]
        previous: datetime | None = None
        for wall in heapq.merge(*streams):
            # The two triggers of the OR rule both match a day that satisfies both fields.
            if wall != previous:
                yield wall
                previous = wall

    def instants(self, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
        """The instants the expression fires at on `zone`'s wall clock, later than `after`
        (aware), ascending, each once, in UTC.

        DST (API.md): a wall time a spring-forward skips fires shifted by the gap, as
        zoneinfo reads a nonexistent time with fold=0 (Berlin 02:30 → 03:30+02:00); a wall
        time a fall-back repeats fires in the first pass only, or in both when
        `hour_floats`. Two wall times reaching one instant (02:30 skipped, 03:30) fire once.
        """
        if after.year >= 9999:  # the last year's instants may not be representable
            return
        # APScheduler's years start at 1970; this also keeps offsets away from year 1.
        after = max(after.astimezone(UTC), _BEFORE_1970)
        # Wall order is not instant order around a transition (Berlin's skipped 02:30 fires
        # at 01:30Z, after 03:00 fires at 01:00Z), so instants wait in a heap until no
        # later wall time can produce an earlier one.
        pending: list[datetime] = []
        last = after
        for wall in self.walls(_first_wall(zone, after)):
            if wall.year >= 9999:  # its instants could lie beyond what datetime represents
                break
            bound, instants = _readings(wall, zone, both_passes=self.hour_floats)
            while pending and pending[0] <= bound:
                instant = heapq.heappop(pending)
                if instant > last:  # also drops a time two wall readings share
                    yield instant
                    last = instant
            for instant in instants:
                if instant > last:
                    heapq.heappush(pending, instant)
        for instant in sorted(set(pending)):
            if instant > last:
                yield instant


def _trigger_walls(trigger: CronTrigger, start: datetime) -> Iterator[datetime]:
    # The triggers run in UTC, which has no DST, so their "UTC" times are exactly the
    # matching wall-clock readings.
    cursor = start.replace(tzinfo=UTC)
    while True:
        found: datetime | None = trigger.get_next_fire_time(None, cursor)
        if found is None:
            return
        yield found.replace(tzinfo=None)
        try:
            cursor = found + timedelta(seconds=1)
        except OverflowError:  # the very last second datetime can represent
            return


def _readings(
    wall: datetime, zone: ZoneInfo, *, both_passes: bool
) -> tuple[datetime, tuple[datetime, ...]]:
    """The instants the wall time fires at, and a bound no later wall time fires before.

    The bound is the earlier of the two fold readings: for a skipped time that is the
    reading with the later offset, which still precedes the end of the gap, where the wall
    times after the gap start firing. This holds as long as a zone's transitions lie
    further apart than their size, which every real zone's do.
    """
    first = wall.replace(tzinfo=zone).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first < second and both_passes:  # a repeated wall time, fired in both passes
        return first, (first, second)
    # first == second: an ordinary time. first > second: a skipped one, whose fold=0
    # reading is the time shifted by the gap. first < second: the first pass only.
    return min(first, second), (first,)


def _first_wall(zone: ZoneInfo, after: datetime) -> datetime:
    """A wall time early enough that no earlier wall time fires after `after`.

    The local time of `after` is not early enough: after a fall-back the second pass of
    the repeated hour, and after a spring-forward the skipped times shifted by the gap,
    fire after `after` from earlier wall times. Reading `after` with the smallest offset
    in force within a day of it covers both.
    """
    offsets = [_offset(zone, after, delta) for delta in (-_ONE_DAY, timedelta(0), _ONE_DAY)]
    return after.replace(tzinfo=None) + min(offsets)


def _offset(zone: ZoneInfo, instant: datetime, delta: timedelta) -> timedelta:
    offset = (instant + delta).astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


@lru_cache(maxsize=1024)
def compile_crontab(expression: str) -> Crontab:
    """Parse `expression` (5 fields, 6 with seconds first, or an @alias) into a `Crontab`.

    Raises `CrontabError` naming the field and the value at fault, e.g.
    "minute field: 61 is out of range 0-59" or "expected 5 or 6 fields, got 4".
    """
    fields = _split_fields(expression)
    if len(fields) == 5:
        fields = ["0", *fields]
    second, minute, hour, day, month, weekday = fields
    seconds = _parse_field(second, _SECOND)
    minutes = _parse_field(minute, _MINUTE)
    hours = _parse_field(hour, _HOUR)
    days = _parse_field(day, _DAY)
    months = _parse_field(month, _MONTH)
    weekdays = frozenset(d % 7 for d in _parse_field(weekday, _WEEKDAY))

    common = {
        "second": _aps_values(seconds),
        "minute": _aps_values(minutes),
        "hour": _aps_values(hours),
        "month": _aps_values(months),
    }
    day_triggers = _day_triggers(day, weekday, days, weekdays, months)
    triggers = tuple(CronTrigger(**common, **extra, timezone=UTC) for extra in day_triggers)
    return Crontab(triggers=triggers, hour_floats=_floats(hour))


def _split_fields(expression: str) -> list[str]:
    text = expression.strip()
    if not text:
        raise CrontabError("the expression is empty")
    if len(text) > _MAX_LENGTH:
        raise CrontabError(f"the expression is longer than {_MAX_LENGTH} characters")
    if text.startswith("@"):
        return _expand_alias(text).split()
    fields = text.split()
    if len(fields) not in (5, 6):
        raise CrontabError(f"expected 5 or 6 fields, got {len(fields)}")
    return fields


def _expand_alias(text: str) -> str:
    alias = text.lower()
    if alias in _ALIASES:
        return _ALIASES[alias]
    if alias == "@reboot":
        raise CrontabError("@reboot is not supported: tickwork runs jobs at times, not at start-up")
    supported = ", ".join(_ALIASES)
    raise CrontabError(f"unknown alias {text!r}; supported: {supported}")


def _parse_field(text: str, field: _Field) -> frozenset[int]:
    """The values `text` selects, validated against `field`'s range."""
    values: set[int] = set()
    for term in text.split(","):
        values.update(_parse_term(term, field))
    return frozenset(values)


def _parse_term(term: str, field: _Field) -> range:
    where = f"{field.label} field"
    if _EXTENSION.search(term):
        raise CrontabError(
            f"{where}: {term!r} uses a cron extension tickwork does not support "
            "(L, W, #, ? or H); use numbers, names, *, ranges, lists and steps"
        )
    match = _TERM.match(term)
    if match is None:
        raise CrontabError(f"{where}: cannot read {term!r}" if term else f"{where}: empty value")
    step = _parse_step(match["step"], where)
    if match["star"]:
        return range(field.low, field.high + 1, step)
    first = _parse_value(match["first"], field, where)
    if match["last"] is not None:
        last = _parse_value(match["last"], field, where)
        if field is _WEEKDAY and last == 0 < first and not _is_number(match["last"]):
            last = 7  # "fri-sun" is Friday to Sunday, as "5-7" is
    else:
        # "5/15" (a start with a step, as Quartz writes it) runs to the end of the range.
        last = field.high if match["step"] else first
    if first > last:
        raise CrontabError(f"{where}: range {term!r} runs backwards")
    return range(first, last + 1, step)


def _parse_step(text: str | None, where: str) -> int:
    if text is None:
        return 1
    if not _is_number(text) or int(text) == 0:
        raise CrontabError(f"{where}: step {text!r} must be a whole number of at least 1")
    return int(text)


def _parse_value(text: str, field: _Field, where: str) -> int:
    if _is_number(text):
        value = int(text)
        if not field.low <= value <= field.high:
            raise CrontabError(f"{where}: {value} is out of range {field.low}-{field.high}")
        return value
    name = text.lower()
    if name not in field.names:
        if field.names:
            raise CrontabError(f"{where}: {text!r} is neither a number nor a name")
        raise CrontabError(f"{where}: {text!r} is not a number")
    return field.low + field.names.index(name)


def _is_number(text: str) -> bool:
    # str.isdigit alone accepts other scripts' digits ("٣") and superscripts ("²").
    return text.isascii() and text.isdigit()


def _day_triggers(
    day: str,
    weekday: str,
    days: frozenset[int],
    weekdays: frozenset[int],
    months: frozenset[int],
) -> list[dict[str, str]]:
    """The day fields of one trigger (AND) or of two whose union is the OR rule."""
    aps_days, aps_weekdays = _aps_values(days), _aps_weekdays(weekdays)
    # man 5 crontab: "If both fields are restricted (i.e., do not start with *), the
    # command will be run when either field matches the current time."
    if day.startswith("*") or weekday.startswith("*"):
        if not _day_occurs(days, months):
            names = ", ".join(_MONTH_NAMES[m - 1] for m in sorted(months))
            raise CrontabError(f"never fires: no day in the day-of-month field occurs in {names}")
        return [{"day": aps_days, "day_of_week": aps_weekdays}]
    by_weekday = {"day": "*", "day_of_week": aps_weekdays}
    if not _day_occurs(days, months):
        # "0 0 30 2 mon" still fires on Mondays; a day trigger that never matches would
        # make APScheduler search up to year 9999 on every call, so leave it out.
        return [by_weekday]
    return [{"day": aps_days, "day_of_week": "*"}, by_weekday]


def _day_occurs(days: frozenset[int], months: frozenset[int]) -> bool:
    # 2000 is a leap year, so February counts its 29th.
    return min(days) <= max(calendar.monthrange(2000, month)[1] for month in months)


def _floats(hour: str) -> bool:
    return any(term.startswith("*") or "/" in term for term in hour.split(","))


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Sorted `values` as maximal runs of consecutive numbers, (first, last) each."""
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and runs[-1][1] == value - 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _aps_values(values: frozenset[int]) -> str:
    """`values` in APScheduler's field syntax: "0-4,30" (its numbers equal crontab's here)."""
    return ",".join(
        str(first) if first == last else f"{first}-{last}" for first, last in _runs(sorted(values))
    )


def _aps_weekdays(weekdays: frozenset[int]) -> str:
    """Crontab weekday numbers (0 = Sunday) as APScheduler weekday names: "mon-fri,sun"."""
    if len(weekdays) == 7:
        return "*"
    monday_first = sorted((day - 1) % 7 for day in weekdays)
    return ",".join(
        _APS_WEEKDAYS[first] if first == last else f"{_APS_WEEKDAYS[first]}-{_APS_WEEKDAYS[last]}"
        for first, last in _runs(monday_first)
    )
