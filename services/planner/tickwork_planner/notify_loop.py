"""The notifications loop: find stale jobs now and then, deliver what is due, record it.

What to notify and when is decided in `notifications`, how a message is sent in
`notify_delivery`; this is the tick the planner runs between them, one batch a time.
"""

from __future__ import annotations

import asyncio
import logging
import time

from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.settings import Settings

from tickwork_planner.notifications import Outcome, claim_due, detect_stale
from tickwork_planner.notifications import finish as finish_notifications
from tickwork_planner.notify_delivery import NotificationSender

logger = logging.getLogger(__name__)


class NotifyLoop:
    """One planner's notification deliveries; `close` ends its sender's connections."""

    def __init__(self, settings: Settings, sessions: SessionFactory) -> None:
        self._settings = settings
        self._sessions = sessions
        self._sender = NotificationSender(settings)
        self._next_stale_check = 0.0

    async def close(self) -> None:
        await self._sender.close()

    async def tick(self) -> float:
        """Detect stale jobs (every `stale_check_interval_seconds`), then deliver the
        notifications that are due, concurrently, and record each attempt."""
        settings = self._settings
        if time.monotonic() >= self._next_stale_check:
            self._next_stale_check = time.monotonic() + settings.stale_check_interval_seconds
            stale = await detect_stale(self._sessions)
            if stale:
                logger.info(
                    "%d stale job notifications written",
                    stale,
                    extra={"action": "stale_jobs_notified", "count": stale},
                )
        limit = settings.relay_batch_size
        due = await claim_due(
            self._sessions,
            limit=limit,
            lease_seconds=settings.notify_timeout_seconds * 3 + settings.relay_delay_seconds,
        )
        if not due:
            return settings.notify_interval_seconds
        errors = await asyncio.gather(*(self._sender.deliver(one) for one in due))
        outcomes = [Outcome(one, error) for one, error in zip(due, errors, strict=True)]
        await finish_notifications(
            self._sessions,
            outcomes,
            max_attempts=settings.notify_max_attempts,
            backoff_seconds=settings.notify_backoff_seconds,
            backoff_cap_seconds=settings.notify_backoff_cap_seconds,
        )
        for outcome in outcomes:
            if outcome.error is not None:
                logger.warning(
                    "notification %d (%s) not delivered: %s",
                    outcome.due.id,
                    outcome.due.channel_kind,
                    outcome.error,
                    extra={"action": "notification_failed", "notification_id": outcome.due.id},
                )
        return 0.0 if len(due) >= limit else settings.notify_interval_seconds
