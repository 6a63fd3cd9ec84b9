"""The console's presentation rules: masking, relative times, zones, DST notes, charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from tickwork_api.console import present
from tickwork_shared.schedule import CronSchedule, next_fire_times

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def test_values_under_secret_looking_keys_are_masked_at_any_depth() -> None:
    args = {
        "url": "https://example.org",
        "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k", "Accept": "json"},
        "password": "p",
        "nested": [{"client_secret": "s", "TOKEN": "t", "apiKey": "a"}, "plain"],
        "tokens_used": 3,
    }
    masked = present.mask_secrets(args, reveal=False)
    assert masked == {
        "url": "https://example.org",
        "headers": {"Authorization": "***", "X-Api-Key": "***", "Accept": "json"},
        "password": "***",
        "nested": [{"client_secret": "***", "TOKEN": "***", "apiKey": "***"}, "plain"],
        "tokens_used": 3,
    }
    assert args["password"] == "p"  # the job's own arguments are not changed
    assert present.mask_secrets(args, reveal=True) == args


def test_a_secret_object_under_a_secret_key_is_masked_whole() -> None:
    masked = present.mask_secrets({"token": {"$secret": "API_TOKEN"}}, reveal=False)
    assert masked == {"token": "***"}


@pytest.mark.parametrize(
    ("offset", "text"),
    [
        (timedelta(seconds=10), "now"),
        (timedelta(minutes=5), "in 5 min"),
        (timedelta(minutes=-5), "5 min ago"),
        (timedelta(minutes=89), "in 89 min"),
        (timedelta(hours=3), "in 3 h"),
        (timedelta(hours=-30), "30 h ago"),
        (timedelta(days=3), "in 3 d"),
    ],
)
def test_relative_times_read_as_people_say_them(offset: timedelta, text: str) -> None:
    assert present.relative(NOW + offset, NOW) == text


def test_a_wall_time_always_names_its_zone() -> None:
    summer = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)
    assert present.in_zone(summer, BERLIN) == "2026-07-01 02:30:00 CEST (Europe/Berlin)"
    assert present.in_zone(summer, ZoneInfo("UTC")) == "2026-07-01 00:30:00 UTC"
    assert present.utc_text(None) == "—"


def test_schedules_in_words_and_code() -> None:
    cron = {"kind": "cron", "expression": "30 2 * * *", "timezone": "Europe/Berlin"}
    assert present.describe_schedule(cron) == ("At 02:30 (Europe/Berlin)", "30 2 * * *")
    words, _ = present.describe_schedule({"kind": "cron", "expression": "0 0 * * 1"})
    assert "Monday" in words  # 1 is Monday, as in crontab
    words, _ = present.describe_schedule({"kind": "cron", "expression": "0 0 * * 7"})
    assert "Sunday" in words
    assert present.describe_schedule({"kind": "interval", "seconds": 300})[0] == "Every 5 minutes"
    assert present.describe_schedule({"kind": "interval", "seconds": 90})[0] == "Every 90 seconds"
    assert present.describe_schedule({"kind": "date", "runAt": "2026-01-01T00:00:00Z"}) == (
        "Once",
        "at 2026-01-01T00:00:00Z",
    )


def test_the_spring_forward_run_carries_a_dst_note() -> None:
    schedule = CronSchedule("30 2 * * *", "Europe/Berlin")
    times = next_fire_times(schedule, NOW, 3)  # 28 Mar 02:30 is past; 29th, 30th, 31st
    views = present.next_runs_view(times, BERLIN, NOW)
    assert views[0].local == "2026-03-29 03:30:00 CEST (Europe/Berlin)"  # shifted by the gap
    assert views[0].note is not None
    assert "forward" in views[0].note
    assert "UTC+01:00 → UTC+02:00" in views[0].note
    assert [view.note for view in views[1:]] == [None, None]
    assert views[0].relative == "in 14 h"  # 13.5 h


def test_the_fall_back_note_says_whether_both_passes_fire() -> None:
    autumn = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    times = next_fire_times(CronSchedule("30 2 * * *", "Europe/Berlin"), autumn, 1)
    fixed = present.next_runs_view(times, BERLIN, autumn)
    assert fixed[0].note is not None
    assert "once" in fixed[0].note
    floating = present.next_runs_view(times, BERLIN, autumn, hour_floats=True)
    assert floating[0].note is not None
    assert "both passes" in floating[0].note
    assert present.hour_field_floats({"kind": "cron", "expression": "0 */2 * * *"})
    assert present.hour_field_floats({"kind": "cron", "expression": "0 0 * * * *"})
    assert not present.hour_field_floats({"kind": "cron", "expression": "0 2 * * *"})
    assert not present.hour_field_floats({"kind": "interval", "seconds": 5})


def test_staleness_follows_the_rest_rule() -> None:
    created = NOW - timedelta(hours=2)
    common = {"created_at": created, "now": NOW}
    assert present.is_stale(
        is_enabled=True, stale_after_seconds=3600, last_success_at=None, **common
    )
    assert not present.is_stale(
        is_enabled=True,
        stale_after_seconds=3600,
        last_success_at=NOW - timedelta(minutes=5),
        **common,
    )
    assert not present.is_stale(
        is_enabled=False, stale_after_seconds=3600, last_success_at=None, **common
    )
    assert not present.is_stale(
        is_enabled=True, stale_after_seconds=None, last_success_at=None, **common
    )


def test_the_duration_chart_scales_to_the_longest_run_oldest_left() -> None:
    runs = [  # newest first, as the history lists them
        (NOW, "failed", 500),
        (NOW - timedelta(minutes=1), "skipped", None),
        (NOW - timedelta(minutes=2), "succeeded", 1000),
    ]
    chart = present.duration_chart(runs, width=400, height=104)
    assert [bar.css for bar in chart.bars] == ["ok", "bad"]
    assert chart.bars[0].x < chart.bars[1].x
    assert chart.bars[0].height == 100  # the longest fills the height (less a margin)
    assert chart.bars[1].height == 50
    assert chart.bars[0].y + chart.bars[0].height == 104
    assert chart.max_label == "1.0 s"
    assert "failed" in chart.bars[1].title
    assert present.duration_chart([(NOW, "queued", None)]).empty


def test_a_runs_steps_say_how_long_each_took() -> None:
    steps = present.run_steps(NOW, NOW + timedelta(seconds=2), NOW + timedelta(seconds=2.5))
    assert [(s.name, s.since_previous) for s in steps] == [
        ("queued", None),
        ("started", "2.0 s"),
        ("finished", "500 ms"),
    ]
    waiting = present.run_steps(NOW, None, None)
    assert [s.at for s in waiting] == [NOW, None, None]
