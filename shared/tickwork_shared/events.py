"""Events on `tickwork.events`: at least once, through the event outbox (DESIGN.md, Guarantees).

Whoever changes an execution or a job writes its event into `event_outbox` in the same
transaction (`add_events`: one multi-row INSERT). A planner's relay (`relay_events_once`)
publishes due rows with confirms and deletes them; a relay that dies after publishing
leaves its rows to be published again once their relay delay passes. Every event
therefore arrives at least once; its `eventId` (in the body and as the AMQP `message_id`)
is what a consumer deduplicates on.

Order: a relay takes rows in `id` order and never a row whose `ordering_key` (the
execution, or `job:<id>`) has an earlier row still in the outbox outside its chunk. The
statuses of one execution commit one after the other (each change holds the row's lock),
so their events are published in the order they happened. A republished duplicate (an
unconfirmed publish) may arrive after later events; dropping repeats of an `eventId`
keeps the order of first arrivals.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from tickwork_shared.bus.abc import Bus, OutgoingMessage
from tickwork_shared.bus.topology import EVENTS_EXCHANGE
from tickwork_shared.db.dialect import db_now, db_now_expr, for_claim
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import EventOutbox
from tickwork_shared.db.retry import run_in_transaction
from tickwork_shared.masking import mask_args
from tickwork_shared.messages import event_body
from tickwork_shared.views import ExecutionRow, execution_fields

EVENTS = cast(Table, EventOutbox.__table__)
_INSERT = insert(EVENTS)


def new_event(
    routing_key: str,
    payload: Mapping[str, Any],
    *,
    ordering_key: str,
    job_id: int | None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """One outbox row: the body is the REST shape plus `event`, `occurredAt`, `eventId`."""
    event_id = str(uuid.uuid4())
    body = event_body(routing_key, {**payload, "eventId": event_id}, occurred_at)
    return {
        "event_id": event_id,
        "routing_key": routing_key,
        "ordering_key": ordering_key,
        "job_id": job_id,
        "body": body,
        "publish_after": None,
        "notified": False,
    }


def execution_event(row: ExecutionRow) -> dict[str, Any]:
    """The body of `execution.<status>`: the execution's REST shape, its `result` masked
    (values under secret-looking keys as `***`: events are read by anyone on the bus)."""
    payload = execution_fields(row)
    result = payload.get("result")
    if isinstance(result, dict | list):
        payload["result"] = mask_args(result)
    return payload


def execution_events(
    rows: Iterable[ExecutionRow], occurred_at: datetime | None = None
) -> list[dict[str, Any]]:
    """`execution.<status>` for each row as it will be committed (`execution_event`)."""
    return [
        new_event(
            f"execution.{row.status}",
            execution_event(row),
            ordering_key=row.execution_id,
            job_id=row.job_id,
            occurred_at=occurred_at,
        )
        for row in rows
    ]


def job_event(routing_key: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """`job.<change>` with the job's REST shape (ordered per job)."""
    job_id = int(payload["id"])
    return new_event(routing_key, payload, ordering_key=f"job:{job_id}", job_id=job_id)


async def add_events(
    target: AsyncSession | AsyncConnection, events: Sequence[Mapping[str, Any]]
) -> None:
    """Write `events` in the caller's transaction: one multi-row INSERT."""
    if events:
        await target.execute(_INSERT, list(events))


@dataclass(frozen=True)
class PendingEvent:
    """A claimed outbox row, as the relay publishes it."""

    row_id: int
    event_id: str
    routing_key: str
    ordering_key: str
    job_id: int | None
    body: bytes
    notified: bool

    def message(self) -> OutgoingMessage:
        return OutgoingMessage(
            EVENTS_EXCHANGE,
            self.routing_key,
            self.body,
            message_id=self.event_id,
            ordering_key=self.ordering_key,
        )


def in_order(chunk: Sequence[PendingEvent], first_ids: Mapping[str, int]) -> list[PendingEvent]:
    """The rows of `chunk` that may go now: a key whose earliest row in the outbox is not
    in the chunk (another relay holds it, or it waits for its relay delay) waits whole."""
    first_in_chunk: dict[str, int] = {}
    for event in chunk:
        first_in_chunk.setdefault(event.ordering_key, event.row_id)
    return [
        event
        for event in chunk
        if first_ids.get(event.ordering_key, event.row_id) >= first_in_chunk[event.ordering_key]
    ]


OnClaimed = Callable[[AsyncSession, Sequence[PendingEvent]], Awaitable[None]]
"""Called in the claim's transaction with the claimed rows not yet `notified` (they are
marked notified in that transaction): where notifications are derived, exactly once."""


async def claim_due_events(
    sessions: SessionFactory,
    *,
    limit: int,
    relay_delay_seconds: float,
    on_claimed: OnClaimed | None = None,
) -> list[PendingEvent]:
    """Take up to `limit` due outbox rows in `id` order (skipping rows another relay
    holds), keep those whose turn has come (`in_order`), push them out by the relay delay."""

    async def work(session: AsyncSession) -> list[PendingEvent]:
        now = await db_now(session)
        query = (
            select(
                EVENTS.c.id,
                EVENTS.c.event_id,
                EVENTS.c.routing_key,
                EVENTS.c.ordering_key,
                EVENTS.c.job_id,
                EVENTS.c.body,
                EVENTS.c.notified,
            )
            .where((EVENTS.c.publish_after.is_(None)) | (EVENTS.c.publish_after <= now))
            .order_by(EVENTS.c.id)
            .limit(limit)
        )
        locked = for_claim(session, cast(Any, query))
        chunk = [PendingEvent(*row) for row in (await session.execute(locked)).all()]
        if not chunk:
            return []
        keys = sorted({event.ordering_key for event in chunk})
        first_ids = {
            key: first
            for key, first in (
                await session.execute(
                    select(EVENTS.c.ordering_key, func.min(EVENTS.c.id))
                    .where(EVENTS.c.ordering_key.in_(keys))
                    .group_by(EVENTS.c.ordering_key)
                )
            ).all()
        }
        events = in_order(chunk, first_ids)
        if not events:
            return []
        fresh = [event for event in events if not event.notified]
        if fresh and on_claimed is not None:
            await on_claimed(session, fresh)
        await session.execute(
            update(EVENTS)
            .where(EVENTS.c.id.in_([event.row_id for event in events]))
            .values(
                publish_after=db_now_expr(session, plus_seconds=relay_delay_seconds),
                notified=True,
            )
        )
        return events

    return await run_in_transaction(sessions, work, what="event outbox claim")


async def publish_and_delete(
    bus: Bus, sessions: SessionFactory, events: Sequence[PendingEvent]
) -> int:
    """Publish `events` in order (confirms awaited together), delete the confirmed rows.

    An unconfirmed row stays; the relay publishes it again after its relay delay.
    """
    if not events:
        return 0
    flags = await bus.publish_many([event.message() for event in events])
    confirmed = [event.row_id for event, ok in zip(events, flags, strict=True) if ok]
    if confirmed:

        async def remove(session: AsyncSession) -> None:
            await session.execute(delete(EVENTS).where(EVENTS.c.id.in_(confirmed)))

        await run_in_transaction(sessions, remove, what="event outbox delete")
    return len(confirmed)


@dataclass(frozen=True)
class EventRelayResult:
    claimed: int
    published: int


async def relay_events_once(
    bus: Bus,
    sessions: SessionFactory,
    *,
    batch_size: int,
    relay_delay_seconds: float,
    on_claimed: OnClaimed | None = None,
) -> EventRelayResult:
    """Claim one chunk of due events (one short transaction), publish it, delete it."""
    events = await claim_due_events(
        sessions,
        limit=batch_size,
        relay_delay_seconds=relay_delay_seconds,
        on_claimed=on_claimed,
    )
    published = await publish_and_delete(bus, sessions, events)
    return EventRelayResult(len(events), published)


async def event_backlog(sessions: SessionFactory) -> int:
    """Events written and not yet published (a gauge)."""

    async def work(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(EVENTS)) or 0)

    return await run_in_transaction(sessions, work, what="event backlog")
