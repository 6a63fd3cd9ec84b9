"""How the console shows things: pure functions of their inputs (the time included).

Nothing here reads a clock, a database or a request: the pages pass `now`, the rows and
the zone in, and get text, badges and chart geometry back, so each rule is unit-tested.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cron_descriptor import Options, get_description  # type: ignore[import-untyped]

MASK = "***"
MIN_SLOTS = 40
# Argument keys whose values only an admin sees (API.md "Secrets"), compared without case,
# dashes or underscores, and as a suffix: `Authorization`, `X-Api-Key`, `client_secret`.
SECRET_KEYS = ("authorization", "password", "token", "secret", "apikey")
OUTCOME_CLASSES = {
    "succeeded": "ok",
    "failed": "bad",
    "timed_out": "bad",
    "cancelled": "muted",
    "skipped": "warn",
    "queued": "pending",
    "running": "pending",
}


def is_secret_key(key: str) -> bool:
    flat = key.lower().replace("-", "").replace("_", "")
    return any(flat.endswith(word) for word in SECRET_KEYS)


def mask_secrets(value: Any, *, reveal: bool) -> Any:
    """`value` with the values under secret-looking keys replaced by "***", at any depth
    (objects inside lists included); unchanged when `reveal` (an admin's key)."""
    if reveal:
        return value
    if isinstance(value, Mapping):
        return {
            k: MASK if is_secret_key(str(k)) else mask_secrets(v, reveal=False)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(item, reveal=False) for item in value]
    return value


def relative(at: datetime, now: datetime) -> str:
    """ "in 5 min", "3 h ago", "now": how far `at` is from `now`, rounded for reading."""
    seconds = (at - now).total_seconds()
    size = abs(seconds)
    if size < 30:
        return "now"
    for unit, length in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if size >= length * (1 if unit == "min" else 1.5) or unit == "min":
            amount = max(1, round(size / length))
            break
    return f"in {amount} {unit}" if seconds > 0 else f"{amount} {unit} ago"


def offset_text(at: datetime) -> str:
    """`UTC+02:00` (or `UTC`) for an aware time."""
    offset = at.utcoffset() or timedelta(0)
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def in_zone(at: datetime, zone: ZoneInfo) -> str:
    """`2026-03-29 03:30:00 CEST (Europe/Berlin)`: a wall time that always names its zone."""
    local = at.astimezone(zone)
    label = local.tzname() or offset_text(local)
    name = "" if zone.key == "UTC" else f" ({zone.key})"
    return f"{local:%Y-%m-%d %H:%M:%S} {label}{name}"


def utc_text(at: datetime | None) -> str:
    return "—" if at is None else in_zone(at, ZoneInfo("UTC"))


def zone_of(schedule: Mapping[str, Any]) -> ZoneInfo:
    """The zone a job's schedule reads wall clocks in (a cron's time zone, UTC otherwise)."""
    if schedule.get("kind") == "cron" and schedule.get("timezone"):
        return ZoneInfo(str(schedule["timezone"]))
    return ZoneInfo("UTC")


def _duration_words(seconds: int) -> str:
    for unit, length in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds % length == 0:
            amount = seconds // length
            return f"{amount} {unit}" + ("s" if amount != 1 else "")
    return f"{seconds} second" + ("s" if seconds != 1 else "")


@functools.lru_cache(maxsize=4096)
def describe_cron(expression: str) -> str:
    """A crontab expression in words (5 fields, or 6 with seconds first).

    Cached: wording one costs about a millisecond, and jobs share few expressions."""
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    options.day_of_week_start_index_zero = True
    try:
        return str(get_description(expression, options))
    except Exception:  # a library's wording failure must not break the page
        return expression


def describe_schedule(schedule: Mapping[str, Any]) -> tuple[str, str]:
    """(words, code): "Every 5 minutes (Europe/Berlin)" and `*/5 * * * *`."""
    kind = schedule.get("kind")
    if kind == "cron":
        expression = str(schedule.get("expression", ""))
        zone = str(schedule.get("timezone") or "UTC")
        return f"{describe_cron(expression)} ({zone})", expression
    if kind == "interval":
        seconds = int(schedule.get("seconds", 0))
        start = schedule.get("startAt")
        code = f"interval {seconds}s" + (f" from {start}" if start else "")
        return f"Every {_duration_words(seconds)}", code
    if kind == "date":
        return "Once", f"at {schedule.get('runAt')}"
    return "Unknown schedule", str(dict(schedule))


@dataclass(frozen=True)
class NextRunView:
    at: datetime
    local: str
    relative: str
    note: str | None


def next_runs_view(
    times: Sequence[datetime], zone: ZoneInfo, now: datetime, *, hour_floats: bool = False
) -> list[NextRunView]:
    """The next fire times in the job's zone, each with a note when the clocks change on
    its local day: what the DST rules of API.md mean for that run."""
    return [
        NextRunView(at, in_zone(at, zone), relative(at, now), dst_note(at, zone, hour_floats))
        for at in times
    ]


def dst_note(at: datetime, zone: ZoneInfo, hour_floats: bool) -> str | None:
    """A note when `at`'s local day in `zone` has a clock change (offset at its midnight
    differs from the next midnight's), saying how the job's runs are placed that day."""
    local = at.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    before, after = midnight.utcoffset(), (midnight + timedelta(days=1)).utcoffset()
    if before is None or after is None or before == after:
        return None
    change = f"{offset_text(midnight)} → {offset_text(midnight + timedelta(days=1))}"
    if after > before:
        return (
            f"Clocks go forward this day ({change}): a wall time inside the skipped hour "
            "fires shifted by the gap."
        )
    passes = (
        "in both passes (hour field * or a step)"
        if hour_floats
        else "once, at its first occurrence"
    )
    return f"Clocks go back this day ({change}): a repeated wall time fires {passes}."


def hour_field_floats(schedule: Mapping[str, Any]) -> bool:
    """Whether a cron's hour field is `*` or a step (it then fires in both fall-back passes)."""
    if schedule.get("kind") != "cron":
        return False
    fields = str(schedule.get("expression", "")).split()
    if len(fields) not in (5, 6):
        return False
    hour = fields[1] if len(fields) == 5 else fields[2]
    return hour == "*" or "/" in hour


def is_stale(
    *,
    is_enabled: bool,
    stale_after_seconds: int | None,
    last_success_at: datetime | None,
    created_at: datetime,
    now: datetime,
) -> bool:
    """The rule of `GET /jobs?stale=true`, for one job already loaded: enabled, with a
    window, and no success (or, never succeeded, no creation) within it."""
    if not is_enabled or stale_after_seconds is None:
        return False
    since = last_success_at or created_at
    return now - since > timedelta(seconds=stale_after_seconds)


def outcome_class(status: str | None) -> str:
    return OUTCOME_CLASSES.get(status or "", "muted")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    max_label: str
    empty: bool


def _ms_text(ms: float) -> str:
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def duration_chart(
    runs: Sequence[tuple[datetime, str, int | None]], *, width: int = 600, height: int = 120
) -> Chart:
    """Bars of run durations, oldest on the left: `runs` are (scheduledAt, status,
    durationMs) newest first, as the history lists them. Runs without a duration (queued,
    skipped) are left out; heights scale to the longest run."""
    timed = [(at, status, ms) for at, status, ms in reversed(runs) if ms is not None]
    if not timed:
        return Chart(width, height, [], "", True)
    longest = max(ms for _, _, ms in timed) or 1
    slot = width / max(len(timed), MIN_SLOTS)  # a few runs make narrow bars, not wide ones
    bars = []
    for index, (at, status, ms) in enumerate(timed):
        bar_height = max(1.0, (height - 4) * ms / longest)
        bars.append(
            Bar(
                x=round(index * slot + slot * 0.1, 2),
                y=round(height - bar_height, 2),
                width=round(max(slot * 0.8, 1.0), 2),
                height=round(bar_height, 2),
                css=outcome_class(status),
                title=f"{utc_text(at)}: {status}, {_ms_text(ms)}",
            )
        )
    return Chart(width, height, bars, _ms_text(longest), False)


@dataclass(frozen=True)
class Step:
    name: str
    at: datetime | None
    since_previous: str | None


def run_steps(
    queued_at: datetime, started_at: datetime | None, finished_at: datetime | None
) -> list[Step]:
    """queued → started → finished, each with the time it took from the step before."""
    steps = [Step("queued", queued_at, None)]
    previous: datetime | None = queued_at
    for name, at in (("started", started_at), ("finished", finished_at)):
        gap = None
        if at is not None and previous is not None:
            gap = _ms_text(max(0.0, (at - previous).total_seconds() * 1000))
        steps.append(Step(name, at, gap))
        previous = at or previous
    return steps
