"""Notification channels (admin), a job's notify rules, and the notifications' history.

Each change is one short transaction with its audit row. Channels hold secret references
only; nothing here reads a secret's value (the planner does, when it delivers).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from tickwork_shared.db.dialect import db_now
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import (
    JobNotifyRule,
    Notification,
    NotificationChannel,
)
from tickwork_shared.db.retry import run_in_transaction

from tickwork_api.actor import Actor
from tickwork_api.errors import Conflict, FieldError, NotFound, ValidationFailed
from tickwork_api.repositories import jobs
from tickwork_api.schemas.common import Page, Paging
from tickwork_api.schemas.notifications import (
    ChannelIn,
    ChannelPublic,
    JobNotify,
    NotificationPublic,
    NotifyRule,
)
from tickwork_api.services import audit

_CHANNEL = "notification_channel"
"""The audit log's entity type of a channel."""


def channel_public(channel: NotificationChannel) -> ChannelPublic:
    return ChannelPublic(
        id=channel.id,
        name=channel.name,
        kind=channel.kind,
        created_at=channel.created_at,
        updated_at=channel.updated_at,
        **{key: channel.config.get(key) for key in ("url", "secret", "to")},
    )


def _snapshot(channel: NotificationChannel) -> dict[str, Any]:
    return {"name": channel.name, "kind": channel.kind, **channel.config}


class NotificationService:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    # -- channels ------------------------------------------------------------------------

    async def list_channels(self, paging: Paging) -> Page[ChannelPublic]:
        async def work(session: AsyncSession) -> tuple[list[NotificationChannel], int]:
            total = await session.scalar(select(func.count()).select_from(NotificationChannel))
            rows = await session.scalars(
                select(NotificationChannel)
                .order_by(NotificationChannel.id)
                .offset(paging.offset)
                .limit(paging.per_page)
            )
            return list(rows.all()), int(total or 0)

        rows, total = await run_in_transaction(self._sessions, work, what="list channels")
        return Page.of([channel_public(row) for row in rows], total, paging)

    async def get_channel(self, channel_id: int) -> ChannelPublic:
        async def work(session: AsyncSession) -> NotificationChannel:
            return await _channel(session, channel_id)

        return channel_public(await run_in_transaction(self._sessions, work))

    async def create_channel(self, data: ChannelIn, actor: Actor) -> ChannelPublic:
        async def work(session: AsyncSession) -> NotificationChannel:
            await _name_free(session, data.name)
            now = await db_now(session)
            channel = NotificationChannel(
                name=data.name,
                kind=data.kind,
                config=data.config(),
                created_at=now,
                updated_at=now,
            )
            session.add(channel)
            await session.flush()
            changes = audit.diff(None, _snapshot(channel))
            audit.record(session, actor.id, "create", _CHANNEL, channel.id, changes, now)
            return channel

        return channel_public(await run_in_transaction(self._sessions, work, what="add channel"))

    async def replace_channel(
        self, channel_id: int, data: ChannelIn, actor: Actor
    ) -> ChannelPublic:
        async def work(session: AsyncSession) -> NotificationChannel:
            channel = await _channel(session, channel_id, lock=True)
            if data.name != channel.name:
                await _name_free(session, data.name)
            now = await db_now(session)
            before = _snapshot(channel)
            channel.name, channel.kind, channel.config = data.name, data.kind, data.config()
            channel.updated_at = now
            after = _snapshot(channel)
            if after != before:
                changes = audit.diff(before, after)
                audit.record(session, actor.id, "update", _CHANNEL, channel.id, changes, now)
            return channel

        return channel_public(await run_in_transaction(self._sessions, work, what="set channel"))

    async def delete_channel(self, channel_id: int, actor: Actor) -> None:
        """Refused (409) while a job's rule uses the channel."""

        async def work(session: AsyncSession) -> None:
            channel = await _channel(session, channel_id, lock=True)
            used = await session.scalar(
                select(func.count()).where(JobNotifyRule.channel_id == channel.id)
            )
            if used:
                raise Conflict(
                    f"Channel {channel.name!r} is used by {used} notify rules; remove them first"
                )
            now = await db_now(session)
            changes = audit.diff(_snapshot(channel), None)
            audit.record(session, actor.id, "delete", _CHANNEL, channel.id, changes, now)
            await session.delete(channel)

        await run_in_transaction(self._sessions, work, what="delete channel")

    # -- a job's rules -------------------------------------------------------------------

    async def job_rules(self, job_id: int) -> JobNotify:
        async def work(session: AsyncSession) -> JobNotify:
            if await jobs.get_job(session, job_id) is None:
                raise NotFound(f"Job {job_id} not found")
            return await _rules_of(session, job_id)

        return await run_in_transaction(self._sessions, work)

    async def set_job_rules(self, job_id: int, data: JobNotify, actor: Actor) -> JobNotify:
        """Replace the job's rules; each names an existing channel, at most once."""

        async def work(session: AsyncSession) -> JobNotify:
            if await jobs.get_job(session, job_id, lock=True) is None:
                raise NotFound(f"Job {job_id} not found")
            names = [rule.channel for rule in data.rules]
            found = {
                channel.name: channel
                for channel in (
                    await session.scalars(
                        select(NotificationChannel).where(NotificationChannel.name.in_(names))
                    )
                ).all()
            }
            errors = [
                FieldError(f"rules[{index}].channel", f"no notification channel named {name!r}")
                for index, name in enumerate(names)
                if name not in found
            ]
            errors += [
                FieldError(f"rules[{index}].channel", f"channel {name!r} is given twice")
                for index, name in enumerate(names)
                if name in names[:index]
            ]
            if errors:
                raise ValidationFailed(errors)
            before = await _rules_of(session, job_id)
            await session.execute(delete(JobNotifyRule).where(JobNotifyRule.job_id == job_id))
            session.add_all(
                JobNotifyRule(job_id=job_id, channel_id=found[rule.channel].id, on=rule.on)
                for rule in data.rules
            )
            now = await db_now(session)
            changes = audit.diff(before.model_dump(mode="json"), data.model_dump(mode="json"))
            audit.record(session, actor.id, "notify", "job", job_id, changes, now)
            return data

        return await run_in_transaction(self._sessions, work, what="set notify rules")

    # -- notifications -------------------------------------------------------------------

    async def list_notifications(
        self, *, job_id: int | None, status: str | None, paging: Paging
    ) -> Page[NotificationPublic]:
        """Newest first."""

        async def work(session: AsyncSession) -> tuple[list[Any], int]:
            query = select(Notification, NotificationChannel.name).outerjoin(
                NotificationChannel, NotificationChannel.id == Notification.channel_id
            )
            count = select(func.count()).select_from(Notification)
            if job_id is not None:
                query = query.where(Notification.job_id == job_id)
                count = count.where(Notification.job_id == job_id)
            if status is not None:
                query = query.where(Notification.status == status)
                count = count.where(Notification.status == status)
            total = await session.scalar(count)
            rows = await session.execute(
                query.order_by(Notification.id.desc()).offset(paging.offset).limit(paging.per_page)
            )
            return list(rows.all()), int(total or 0)

        rows, total = await run_in_transaction(self._sessions, work, what="list notifications")
        items = [
            NotificationPublic(
                id=note.id,
                job_id=note.job_id,
                channel=name or f"#{note.channel_id} (deleted)",
                execution_id=note.execution_id,
                condition=note.condition,
                status=note.status,
                attempts=note.attempts,
                next_attempt_at=note.next_attempt_at,
                last_error=note.last_error,
                created_at=note.created_at,
                delivered_at=note.delivered_at,
            )
            for note, name in rows
        ]
        return Page.of(items, total, paging)


async def _channel(
    session: AsyncSession, channel_id: int, *, lock: bool = False
) -> NotificationChannel:
    query = select(NotificationChannel).where(NotificationChannel.id == channel_id)
    channel = await session.scalar(query.with_for_update() if lock else query)
    if channel is None:
        raise NotFound(f"Notification channel {channel_id} not found")
    return channel


async def _name_free(session: AsyncSession, name: str) -> None:
    taken = await session.scalar(
        select(NotificationChannel.id).where(NotificationChannel.name == name)
    )
    if taken is not None:
        raise Conflict(f"A notification channel named {name!r} already exists")


async def _rules_of(session: AsyncSession, job_id: int) -> JobNotify:
    rows = await session.execute(
        select(NotificationChannel.name, JobNotifyRule.on)
        .join(NotificationChannel, NotificationChannel.id == JobNotifyRule.channel_id)
        .where(JobNotifyRule.job_id == job_id)
        .order_by(JobNotifyRule.id)
    )
    return JobNotify(rules=[NotifyRule(channel=name, on=list(on)) for name, on in rows.all()])
