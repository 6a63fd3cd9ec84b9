"""`tickwork doctor`'s judgements over what it read (pure): pass, or fail with the fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tickwork.doctor.findings import Finding, Status, render_json, render_table
from tickwork.doctor.judgements import (
    judge_clock,
    judge_executors,
    judge_outbox,
    judge_session,
    judge_stale,
    judge_version,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("version", "status"),
    [
        ("10.11.6-MariaDB-0+deb12u1", Status.OK),
        ("11.4.2-MariaDB-ubu2404", Status.OK),
        ("10.5.23-MariaDB", Status.FAILED),
        ("8.0.36", Status.FAILED),  # MySQL
        ("garbage", Status.FAILED),
    ],
)
def test_version(version: str, status: Status) -> None:
    finding = judge_version(version)
    assert finding.status is status
    if status is Status.FAILED and "." in version:
        assert "10.6" in finding.fix


def test_session_needs_read_committed() -> None:
    assert judge_session("READ-COMMITTED", "SYSTEM", 0).status is Status.OK
    repeatable = judge_session("REPEATABLE-READ", "+02:00", 7200)
    assert repeatable.status is Status.FAILED
    assert "READ COMMITTED" in repeatable.fix


def test_clock_skew_beyond_a_second_fails() -> None:
    assert judge_clock(0.2).status is Status.OK
    assert judge_clock(-0.9).status is Status.OK
    skewed = judge_clock(-4.5)
    assert skewed.status is Status.FAILED
    assert "-4.500 s" in skewed.detail
    assert "NTP" in skewed.fix


def test_executors_alive_within_the_ttl() -> None:
    seen = [("b.task", NOW - timedelta(seconds=30)), ("a.task", NOW - timedelta(seconds=5))]
    finding = judge_executors(seen, NOW, ttl=600)
    assert finding.status is Status.OK
    assert finding.detail == "2 task functions offered: a.task, b.task"


def test_executors_gone_or_never_seen() -> None:
    gone = judge_executors([("a.task", NOW - timedelta(hours=1))], NOW, ttl=600)
    assert gone.status is Status.FAILED
    assert "last 3600 s ago" in gone.detail
    never = judge_executors([], NOW, ttl=600)
    assert never.status is Status.FAILED
    assert "never" in never.detail
    assert "tickwork executor" in never.fix


def test_outbox_fails_only_on_an_old_backlog() -> None:
    assert judge_outbox(0, 0.0, allowed_age=15).status is Status.OK
    assert judge_outbox(40, 3.0, allowed_age=15).status is Status.OK
    late = judge_outbox(40, 600.0, allowed_age=15)
    assert late.status is Status.FAILED
    assert "40 queued runs unpublished, the oldest 600 s old" in late.detail


def test_stale_jobs_are_named() -> None:
    assert judge_stale([], 0).status is Status.OK
    stale = judge_stale(["a", "b", "c", "d", "e"], 7)
    assert stale.status is Status.FAILED
    assert stale.detail.endswith("a, b, c, d, e …")


def test_renderings_mark_each_line_and_count_failures() -> None:
    findings = [
        Finding("settings", Status.OK, "valid"),
        Finding("schema", Status.FAILED, "at 0001", "run `tickwork migrate`"),
        Finding("executors", Status.SKIPPED, "needs schema"),
    ]
    assert render_table(findings).splitlines() == [
        "✓ settings   valid",
        "✗ schema     at 0001",
        "             fix: run `tickwork migrate`",
        "· executors  needs schema",
        "1 check failed",
    ]
    report = orjson.loads(render_json(findings))
    assert report["ok"] is False
    assert report["checks"][1] == {
        "check": "schema",
        "status": "failed",
        "detail": "at 0001",
        "fix": "run `tickwork migrate`",
    }


async def test_a_check_that_raises_fails_its_line_and_skips_its_dependants() -> None:
    from tickwork_shared.settings import Settings

    from tickwork.doctor import _Doctor, passed

    doctor = _Doctor(Settings())

    async def broken() -> Finding:
        raise ConnectionResetError("reset by amqp://guest:hunter2@host/")

    async def fine() -> Finding:
        return passed("later", "ok")

    await doctor.run("schema", broken)
    await doctor.run("executors", fine, "schema")
    await doctor.run("later", fine)
    schema, executors, later = doctor.findings
    assert schema.status is Status.FAILED
    assert schema.detail.startswith("could not check: ConnectionResetError: reset by")
    assert "hunter2" not in schema.detail
    assert (executors.status, executors.detail) == (Status.SKIPPED, "needs schema")
    assert later.status is Status.OK
