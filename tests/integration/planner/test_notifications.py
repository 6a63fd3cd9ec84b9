"""Notifications delivered by a running planner (the first test also on SQLite, as in
`tickwork dev`): a signed webhook for a run that failed its last retry (none for earlier
attempts), retried while the receiver is down, a stale job notified once per stale
period, an email through a local SMTP server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import (
    JobExecution,
    JobNotifyRule,
    Notification,
    NotificationChannel,
    ScheduledJob,
)
from tickwork_shared.enums import Trigger
from tickwork_shared.events import add_events, execution_events
from tickwork_shared.runs import manual_fire_key, new_run

from tests.factories import make_job
from tests.harness.processes import free_port
from tests.harness.waiting import wait_until
from tests.harness.webhook_receiver import WebhookReceiver
from tests.integration.planner.conftest import fast_settings, running

SECRET = "webhook-shared-secret"


def notify_settings(**overrides: Any) -> Any:
    values: dict[str, Any] = {
        "http_allow": "127.0.0.1",
        "notify_interval_seconds": 0.1,
        "notify_backoff_seconds": 0.2,
        "notify_backoff_cap_seconds": 0.4,
        "stale_check_interval_seconds": 0.2,
    }
    return fast_settings(**(values | overrides))


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hook = WebhookReceiver(free_port())
    yield hook
    await hook.stop()


async def _job_with_rule(
    sessions: SessionFactory, kind: str, config: dict[str, Any], on: list[str], **job: Any
) -> ScheduledJob:
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        created = await make_job(session, **job)
        channel = NotificationChannel(
            name=f"ch-{created.id}", kind=kind, config=config, created_at=now, updated_at=now
        )
        session.add(channel)
        await session.flush()
        session.add(JobNotifyRule(job_id=created.id, channel_id=channel.id, on=on))
    return created


async def _ended_run(
    sessions: SessionFactory, job: ScheduledJob, status: str, attempt: int, fire_key: str
) -> JobExecution:
    """A run that ended, written with its event as the executor writes it."""
    now = datetime.now(UTC)
    row = new_run(
        job, fire_key=fire_key, scheduled_at=now, trigger=Trigger.MANUAL, now=now, attempt=attempt
    )
    row.status, row.started_at, row.finished_at = status, now, now
    row.error = "RuntimeError: boom" if status != "succeeded" else None
    row.retry_handled = True
    async with sessions() as session, session.begin():
        session.add(row)
        await session.flush()
        await add_events(session, execution_events([row], now))
    return row


async def _notes(sessions: SessionFactory, job_id: int) -> list[Notification]:
    async with sessions() as session:
        found = await session.scalars(
            select(Notification).where(Notification.job_id == job_id).order_by(Notification.id)
        )
        return list(found.all())


async def test_a_signed_webhook_for_the_last_retry_only(
    db_sessions: SessionFactory,
    memory_bus: Bus,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKWORK_SECRET_HOOK_KEY", SECRET)
    await receiver.start()
    job = await _job_with_rule(
        db_sessions,
        "webhook",
        {"url": receiver.url, "secret": {"$secret": "HOOK_KEY"}},
        ["failed"],
        max_retries=1,
    )
    key = manual_fire_key()
    async with running(notify_settings(), db_sessions, memory_bus):
        first = await _ended_run(db_sessions, job, "failed", 1, key)
        last = await _ended_run(db_sessions, job, "failed", 2, key)

        async def delivered() -> list[Notification]:
            return [n for n in await _notes(db_sessions, job.id) if n.status == "delivered"]

        await wait_until(delivered, timeout=15, what="the webhook delivered")
        await asyncio.sleep(0.5)  # time for a wrong second notification to show up
    notes = await _notes(db_sessions, job.id)
    assert [(n.execution_id, n.condition, n.status) for n in notes] == [
        (last.execution_id, "failed", "delivered")
    ]
    assert first.execution_id != last.execution_id
    [post] = receiver.received
    expected = "sha256=" + hmac.new(SECRET.encode(), post.body, hashlib.sha256).hexdigest()
    assert post.headers["x-tickwork-signature"] == expected
    assert post.headers["x-tickwork-event"] == "failed"
    body = orjson.loads(post.body)
    assert body["condition"] == "failed"
    assert body["job"] == {"id": job.id, "name": job.name}
    assert body["execution"]["executionId"] == last.execution_id
    assert body["execution"]["attempt"] == 2
    assert SECRET not in post.body.decode()


async def test_a_receiver_that_is_down_gets_it_when_it_comes_back(
    maria_sessions: SessionFactory, memory_bus: Bus, receiver: WebhookReceiver
) -> None:
    job = await _job_with_rule(
        maria_sessions, "webhook", {"url": receiver.url}, ["timed_out"], max_retries=0
    )
    async with running(notify_settings(), maria_sessions, memory_bus):
        row = await _ended_run(maria_sessions, job, "timed_out", 1, manual_fire_key())

        async def failed_twice() -> list[Notification]:
            return [n for n in await _notes(maria_sessions, job.id) if n.attempts >= 2]

        [note] = await wait_until(failed_twice, timeout=15, what="two failed attempts")
        assert note.status == "pending"
        assert note.last_error
        assert "Connect" in note.last_error
        await receiver.start()

        async def delivered() -> list[Notification]:
            return [n for n in await _notes(maria_sessions, job.id) if n.status == "delivered"]

        [done] = await wait_until(delivered, timeout=15, what="delivery once the receiver is up")
    assert done.attempts >= 3
    assert done.last_error is None
    assert len(receiver.received) == 1
    assert orjson.loads(receiver.received[0].body)["execution"]["executionId"] == row.execution_id


async def test_an_internal_destination_not_allowed_is_refused(
    maria_sessions: SessionFactory, memory_bus: Bus, receiver: WebhookReceiver
) -> None:
    await receiver.start()
    job = await _job_with_rule(
        maria_sessions, "webhook", {"url": receiver.url}, ["failed"], max_retries=0
    )
    async with running(
        notify_settings(http_allow="", notify_max_attempts=1), maria_sessions, memory_bus
    ):
        await _ended_run(maria_sessions, job, "failed", 1, manual_fire_key())

        async def gave_up() -> list[Notification]:
            return [n for n in await _notes(maria_sessions, job.id) if n.status == "failed"]

        [note] = await wait_until(gave_up, timeout=15, what="the refused notification")
    assert note.last_error is not None
    assert note.last_error.startswith("EgressDenied")
    assert receiver.received == []


async def test_a_stale_job_notifies_once_per_stale_period(
    maria_sessions: SessionFactory, memory_bus: Bus, receiver: WebhookReceiver
) -> None:
    await receiver.start()
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    job = await _job_with_rule(
        maria_sessions,
        "slack",
        {"url": receiver.url},
        ["stale"],
        stale_after_seconds=60,
        created_at=long_ago,
    )
    async with running(notify_settings(), maria_sessions, memory_bus):

        async def one() -> bool:
            return len(receiver.received) >= 1

        await wait_until(one, timeout=15, what="the stale notification")
        await asyncio.sleep(1.0)  # five stale checks later: still one
        assert len(receiver.received) == 1
        assert "stale" in orjson.loads(receiver.received[0].body)["text"]
        # A success starts a new period; going stale again notifies again.
        async with maria_sessions() as session, session.begin():
            stored = await session.get(ScheduledJob, job.id)
            assert stored is not None
            stored.last_success_at = datetime.now(UTC) - timedelta(minutes=5)

        async def two() -> bool:
            return len(receiver.received) >= 2

        await wait_until(two, timeout=15, what="the next stale period's notification")
        await asyncio.sleep(0.6)
    assert len(receiver.received) == 2
    assert [n.condition for n in await _notes(maria_sessions, job.id)] == ["stale", "stale"]


async def test_an_email_reaches_the_smtp_server(
    maria_sessions: SessionFactory, memory_bus: Bus
) -> None:
    messages: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            messages.append(envelope)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        job = await _job_with_rule(
            maria_sessions, "email", {"to": ["ops@example.com"]}, ["recovered"]
        )
        settings = notify_settings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_from="tw@example.com"
        )
        async with running(settings, maria_sessions, memory_bus):
            await _ended_run(maria_sessions, job, "failed", 1, manual_fire_key())
            await _ended_run(maria_sessions, job, "succeeded", 1, manual_fire_key())

            async def arrived() -> bool:
                return bool(messages)

            await wait_until(arrived, timeout=15, what="the email")
    finally:
        controller.stop()
    [envelope] = messages
    assert envelope.rcpt_tos == ["ops@example.com"]
    assert envelope.mail_from == "tw@example.com"
    text = envelope.content.decode()
    assert f"job {job.name!r} recovered" in text
