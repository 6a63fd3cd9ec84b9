"""Schedules and their fire times: pure maths, no clock reads, no I/O.

A schedule is one of three kinds (API.md): ``cron`` (a crontab expression read on the wall
clock of a time zone), ``interval`` (fixed rate from ``startAt``) and ``date`` (once).
`parse_schedule` turns the user's JSON into one, `schedule_to_dict` turns it back, and
`fire_times` says when it fires. Every datetime returned is aware and in UTC.

DST rules (API.md), exact: a wall time skipped by a spring-forward jump fires shifted by the
gap, as `zoneinfo` reads a nonexistent time with fold=0 (Europe/Berlin 02:30 → 03:30+02:00);
a wall time repeated by a fall-back fires once, in the first pass, unless the hour field is
``*`` or a step, when it fires in both passes. No instant is ever returned twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import blake2b
from itertools import islice, takewhile
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tickwork_shared.crontab import CrontabError, compile_crontab
from tickwork_shared.errors import TickworkError

__all__ = [
    "CronSchedule",
    "DateSchedule",
    "IntervalSchedule",
    "Schedule",
    "ScheduleError",
    "fire_times",
    "jitter_offset",
    "next_fire_time",
    "next_fire_times",
    "parse_schedule",
    "schedule_to_dict",
    "schedule_zone",
]

MAX_INTERVAL_SECONDS = 31_622_400  # 366 days
_KEYS = {
    "cron": frozenset({"kind", "expression", "timezone"}),
    "interval": frozenset({"kind", "seconds", "startAt"}),
    "date": frozenset({"kind", "runAt"}),
}
# Keys zoneinfo accepts whose meaning depends on the machine's configuration: two planners
# could disagree about when the job fires.
_MACHINE_ZONES = frozenset({"localtime", "posixrules"})
_TIME_EXAMPLE = "e.g. 2026-03-29T02:30:00Z"


class ScheduleError(TickworkError):
    """A schedule a user wrote is invalid.

    `field` is the camelCase key inside the schedule object ("kind", "expression",
    "timezone", "seconds", "startAt", "runAt", or an unexpected key the user sent);
    str(err) is `message`, written for the user, e.g. "expected 5 or 6 fields, got 4".
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)  # both in args, so the error pickles
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class CronSchedule:
    """Fires whenever the wall clock in `timezone` (an IANA name) matches `expression`.

    The expression is validated and its whitespace collapsed on construction.
    """

    expression: str
    timezone: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "expression", _checked_expression(self.expression))
        _zone(self.timezone)


@dataclass(frozen=True)
class IntervalSchedule:
    """Fires at ``start_at + k * seconds`` for every k >= 0 (fixed rate, never drifting)."""

    seconds: int
    start_at: datetime

    def __post_init__(self) -> None:
        seconds = self.seconds
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise ScheduleError("seconds", "must be a whole number of seconds")
        if not 1 <= seconds <= MAX_INTERVAL_SECONDS:
            raise ScheduleError("seconds", f"must be between 1 and {MAX_INTERVAL_SECONDS}")
        object.__setattr__(self, "start_at", _as_utc(self.start_at, "startAt"))


@dataclass(frozen=True)
class DateSchedule:
    """Fires once, at `run_at`."""

    run_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_at", _as_utc(self.run_at, "runAt"))


Schedule = CronSchedule | IntervalSchedule | DateSchedule


def parse_schedule(data: Mapping[str, Any], *, default_start: datetime) -> Schedule:
    """Validate a schedule object as a user sent it (API.md) and build the `Schedule`.

    An interval without ``startAt`` starts at `default_start` (its creation); a cron
    schedule without ``timezone`` reads UTC; a null optional key counts as absent. Raises
    `ScheduleError` naming the key at fault, including keys the kind does not take.
    """
    _require_aware(default_start, "default_start")
    if not isinstance(data, Mapping):
        raise ScheduleError("kind", "a schedule must be an object with a kind")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in _KEYS:
        raise ScheduleError("kind", "must be one of cron, interval, date")
    for key in data:
        if key not in _KEYS[kind]:
            raise ScheduleError(str(key), f"is not a field of {kind} schedules")
    if kind == "cron":
        return CronSchedule(
            expression=_required(data, "expression"),
            timezone=_optional_timezone(data.get("timezone")),
        )
    if kind == "interval":
        start = data.get("startAt")
        return IntervalSchedule(
            seconds=_whole_seconds(_required(data, "seconds")),
            start_at=default_start if start is None else _parse_time(start, "startAt"),
        )
    return DateSchedule(run_at=_parse_time(_required(data, "runAt"), "runAt"))


def schedule_to_dict(schedule: Schedule) -> dict[str, Any]:
    """The schedule as JSON-able camelCase, times in ISO-8601 ending in "Z".

    `parse_schedule` reads it back to an equal schedule, whatever its `default_start`.
    """
    if isinstance(schedule, CronSchedule):
        return {"kind": "cron", "expression": schedule.expression, "timezone": schedule.timezone}
    if isinstance(schedule, IntervalSchedule):
        return {
            "kind": "interval",
            "seconds": schedule.seconds,
            "startAt": _iso(schedule.start_at),
        }
    return {"kind": "date", "runAt": _iso(schedule.run_at)}


def schedule_zone(schedule: Schedule) -> ZoneInfo:
    """The zone the schedule reads wall clocks in: a cron's time zone, UTC otherwise."""
    return ZoneInfo(schedule.timezone if isinstance(schedule, CronSchedule) else "UTC")


def fire_times(
    schedule: Schedule, after: datetime, until: datetime, *, limit: int
) -> list[datetime]:
    """The fire times t with ``after < t <= until``, ascending, at most `limit`.

    Work is proportional to the times returned, not to the schedule's history.
    """
    _require_aware(until, "until")
    if limit <= 0:
        return []
    return list(islice(takewhile(lambda t: t <= until, _instants(schedule, after)), limit))


def next_fire_times(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    """The first `count` fire times later than `after`; fewer only if the schedule ends."""
    if count <= 0:
        return []
    return list(islice(_instants(schedule, after), count))


def next_fire_time(schedule: Schedule, after: datetime) -> datetime | None:
    """The first fire time later than `after`, or None when the schedule never fires again."""
    return next(_instants(schedule, after), None)


def jitter_offset(job_id: int, fire_time: datetime, jitter_seconds: int) -> timedelta:
    """How long to delay the run of `job_id` due at `fire_time`: in [0, jitter_seconds),
    whole milliseconds, spread uniformly across fire times.

    Deterministic (a hash of the job and the instant, whatever zone `fire_time` is
    written in), so every planner computes the same due time for the same run.
    """
    if jitter_seconds < 0:
        raise ValueError("jitter_seconds must not be negative")
    if jitter_seconds == 0:
        return timedelta(0)
    _require_aware(fire_time, "fire_time")
    key = f"{job_id}:{_iso(fire_time)}".encode()
    digest = blake2b(key, digest_size=8, person=b"tickwork-jitter").digest()
    # Multiply-shift maps the 64-bit hash onto the range with negligible bias.
    millis = (int.from_bytes(digest, "big") * jitter_seconds * 1000) >> 64
    return timedelta(milliseconds=millis)


def _instants(schedule: Schedule, after: datetime) -> Iterator[datetime]:
    """Every fire time later than `after`, ascending, each once (possibly endless)."""
    _require_aware(after, "after")
    after = after.astimezone(UTC)
    if isinstance(schedule, CronSchedule):
        return compile_crontab(schedule.expression).instants(ZoneInfo(schedule.timezone), after)
    if isinstance(schedule, IntervalSchedule):
        return _interval_instants(schedule, after)
    return iter([schedule.run_at] if schedule.run_at > after else [])


def _interval_instants(schedule: IntervalSchedule, after: datetime) -> Iterator[datetime]:
    step = timedelta(seconds=schedule.seconds)
    # The first k with start + k * step > after, computed rather than counted up to.
    k = 0 if after < schedule.start_at else (after - schedule.start_at) // step + 1
    try:
        while True:
            yield schedule.start_at + k * step
            k += 1
    except OverflowError:  # past year 9999
        return


def _checked_expression(expression: object) -> str:
    if not isinstance(expression, str):
        raise ScheduleError("expression", "must be a string such as '0 2 * * *'")
    normalized = " ".join(expression.split())
    try:
        compile_crontab(normalized)
    except CrontabError as err:
        raise ScheduleError("expression", str(err)) from err
    return normalized


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str):
        raise ScheduleError("timezone", "must be a time zone name such as Europe/Berlin")
    if name not in _MACHINE_ZONES:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass  # not found, a path, a directory ("Europe")...
    raise ScheduleError(
        "timezone", f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
    )


def _optional_timezone(value: object) -> str:
    if value is None:
        return "UTC"
    _zone(value)
    assert isinstance(value, str)  # _zone accepts strings only
    return value


def _required(data: Mapping[str, Any], key: str) -> Any:
    value = data.get(key)
    if value is None:
        raise ScheduleError(key, "is required")
    return value


def _whole_seconds(value: object) -> int:
    # JSON has one number type: 60.0 is a whole number of seconds, 1.5 and true are not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleError("seconds", "must be a whole number of seconds")
    return value


def _parse_time(value: object, field: str) -> datetime:
    if isinstance(value, datetime):
        return value  # the dataclass checks it is aware
    if not isinstance(value, str):
        raise ScheduleError(field, f"must be an ISO-8601 time with a UTC offset, {_TIME_EXAMPLE}")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ScheduleError(field, f"{value!r} is not an ISO-8601 time, {_TIME_EXAMPLE}") from None


def _as_utc(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise ScheduleError(field, f"must be a time with a UTC offset, {_TIME_EXAMPLE}")
    if value.utcoffset() is None:
        raise ScheduleError(field, f"has no UTC offset; add one, {_TIME_EXAMPLE}")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before datetime's first instant
        raise ScheduleError(field, "is out of range") from None


def _require_aware(value: datetime, name: str) -> None:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
