"""The event outbox on both databases (`tickwork dev` runs it on SQLite): written in the
caller's transaction, relayed in id order with `eventId` as the message id, then gone."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from sqlalchemy import func, select
from tickwork_shared.bus.abc import Bus, Delivery
from tickwork_shared.bus.topology import EVENTS_EXCHANGE
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import EventOutbox
from tickwork_shared.events import add_events, job_event, relay_events_once


async def test_events_written_in_a_transaction_are_relayed_once_in_order(
    db_sessions: SessionFactory, memory_bus: Bus
) -> None:
    seen: list[Delivery] = []

    async def collect(delivery: Delivery) -> None:
        seen.append(delivery)
        await delivery.ack()

    subscription = await memory_bus.subscribe(EVENTS_EXCHANGE, ["job.*"], collect)
    async with db_sessions() as session, session.begin():
        await add_events(
            session,
            [
                job_event(f"job.{change}", {"id": 7, "name": "n"})
                for change in ("created", "updated")
            ],
        )
    # A rolled-back transaction leaves no event.
    try:
        async with db_sessions() as session, session.begin():
            await add_events(session, [job_event("job.deleted", {"id": 7, "name": "n"})])
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    result = await relay_events_once(memory_bus, db_sessions, batch_size=10, relay_delay_seconds=5)
    assert (result.claimed, result.published) == (2, 2)
    again = await relay_events_once(memory_bus, db_sessions, batch_size=10, relay_delay_seconds=5)
    assert again.claimed == 0
    async with db_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(EventOutbox)) == 0
    await subscription.close()
    assert [d.routing_key for d in seen] == ["job.created", "job.updated"]
    bodies = [orjson.loads(d.body) for d in seen]
    assert [d.message_id for d in seen] == [b["eventId"] for b in bodies]
    assert len({b["eventId"] for b in bodies}) == 2
    assert datetime.fromisoformat(bodies[0]["occurredAt"]) <= datetime.now(UTC)
