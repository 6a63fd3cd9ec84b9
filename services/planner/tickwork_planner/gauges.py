"""The planner's gauges: metrics that are states (backlogs, reconnects), not events.

Read every few seconds (the reaper's interval) and set as they are; the count of runs
published is the one counter here, advanced by what the publisher sent since the last
reading.
"""

from __future__ import annotations

from tickwork_shared import metrics
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.events import event_backlog
from tickwork_shared.outbox import OutboxPublisher

from tickwork_planner.relay import outbox_backlog


class Gauges:
    """The gauges loop's tick: reads the states into `tickwork_shared.metrics`."""

    def __init__(
        self, sessions: SessionFactory, bus: Bus, publisher: OutboxPublisher, *, every: float
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._publisher = publisher
        self._every = every
        self._published_seen = 0

    async def tick(self) -> float:
        backlog = await outbox_backlog(self._sessions)
        metrics.OUTBOX_BACKLOG.set(backlog.count)
        metrics.OUTBOX_OLDEST_AGE.set(backlog.oldest_age_seconds)
        metrics.EVENT_OUTBOX_BACKLOG.set(await event_backlog(self._sessions))
        metrics.BUS_RECONNECTS.set(self._bus.reconnects)
        published = self._publisher.published
        metrics.RUNS_PUBLISHED.inc(published - self._published_seen)
        self._published_seen = published
        return self._every
