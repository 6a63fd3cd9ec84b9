"""`Planner`: the planner service, its loops and their lifecycle.

One `Planner` runs these tasks side by side, each a loop of short transactions:
planning (due jobs → rows), the outbox relay, the event relay, retries, the reaper and
housekeeping; plus two bus consumers, inbound `job.trigger` commands and `job.*` events
that wake planning.
Every loop survives failures (a database or broker outage included): it logs, backs off
and goes on. Leaving `async with planner` ends them between transactions. The decisions
live in the modules the loops call (`planning`, `relay`, `commands`, `retries`, `reaper`,
`housekeeping`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import timedelta

from tickwork_shared import metrics
from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.events import event_backlog, relay_events_once
from tickwork_shared.lifecycle import Service
from tickwork_shared.outbox import OutboxPublisher, RunRef
from tickwork_shared.resilience import Tick
from tickwork_shared.settings import Settings
from tickwork_shared.telemetry import trace_headers, tracer

from tickwork_planner.commands import TriggerConsumer
from tickwork_planner.errors import PlannerError
from tickwork_planner.housekeeping import purge_old_rows
from tickwork_planner.listeners import BusListeners
from tickwork_planner.loops import run_loop, until_stopped_or_crashed
from tickwork_planner.notifications import Outcome, claim_due, detect_stale
from tickwork_planner.notifications import derive as derive_notifications
from tickwork_planner.notifications import finish as finish_notifications
from tickwork_planner.notify_delivery import NotificationSender
from tickwork_planner.planning import PlanLimits, earliest_due, plan_due_runs
from tickwork_planner.reaper import reap_expired
from tickwork_planner.relay import outbox_backlog, relay_once
from tickwork_planner.retries import write_retries
from tickwork_planner.stats import PlannerStats
from tickwork_planner.timing import planning_sleep

logger = logging.getLogger(__name__)

FaultHook = Callable[[str], None]
"""Called at named points of the planner's work; a test hook raises there to simulate a
crash. Off unless passed to `Planner`."""
AFTER_PLAN_COMMIT = "after_plan_commit"
"""A planning tick committed rows and has not handed them to the publisher yet."""

STOP_TIMEOUT_SECONDS = 10.0
"""How long closing lets loops finish their transaction and commands settle on stop."""


class SimulatedCrash(BaseException):
    """Raised by a fault hook: the planner dies on the spot, as a killed process would.

    A `BaseException`, so no loop's error handling catches it; `Planner.serve` re-raises
    it, and leaving the `async with` then cancels the loops without the graceful steps.
    """


class Planner(Service):
    """A planner process's work. Many may run against one database; none is a leader.

    Construction does no I/O. `async with planner:` starts its loops and consumers (its
    own `OutboxPublisher` included); `serve(stop)` returns once `stop` is set (or raises
    a loop's crash); leaving the block ends the loops between transactions, lets the
    commands in hand settle, and closes everything in reverse order.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sessions: SessionFactory,
        bus: Bus,
        fault_hook: FaultHook | None = None,
    ) -> None:
        self.settings = settings
        self.stats = PlannerStats()
        self._sessions = sessions
        self._bus = bus
        self._fault_hook = fault_hook
        self._stopping = asyncio.Event()
        self._wakes: dict[str, asyncio.Event] = {}
        self._listeners: BusListeners | None = None
        self._started = False
        self._publisher: OutboxPublisher | None = None
        self._relay_delay = timedelta(seconds=settings.relay_delay_seconds)
        self._published_seen = 0
        self._sender: NotificationSender | None = None
        self._next_stale_check = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._crash: BaseException | None = None
        self._stack = AsyncExitStack()

    @property
    def subscribed(self) -> bool:
        """True once both consumers (commands, `job.*` wake-ups) are started."""
        return self._listeners is not None and self._listeners.started

    def wake(self) -> None:
        """Plan now instead of at the end of the current sleep."""
        if "planning" in self._wakes:
            self._wakes["planning"].set()

    async def start(self) -> None:
        if self._started:
            raise PlannerError("a Planner runs once; make a new one")
        self._started = True
        stack = self._stack
        publisher = self._publisher = await stack.enter_async_context(
            OutboxPublisher(self._bus, self._sessions, batch_size=self.settings.relay_batch_size)
        )
        self._sender = NotificationSender(self.settings)
        stack.push_async_callback(self._sender.close)
        consumer = TriggerConsumer(
            self._sessions,
            claim=publisher.claim,
            relay_delay=self._relay_delay,
            stats=self.stats,
            on_written=self._hand_over_one,
            stopping=self._stopping,
            max_queued=self.settings.max_queued_runs_per_job,
        )
        listeners = self._listeners = BusListeners(
            self._bus, commands=consumer, on_job_event=self.wake, stopping=self._stopping
        )
        stack.push_async_callback(listeners.close)
        ticks: dict[str, Tick] = {
            "planning": self._plan_tick,
            "relay": self._relay_tick,
            "events": self._events_tick,
            "notifications": self._notify_tick,
            "retries": self._retry_tick,
            "reaper": self._reap_tick,
            "housekeeping": self._housekeeping_tick,
            "gauges": self._gauges_tick,
        }
        self._wakes = {name: asyncio.Event() for name in ticks}
        self._tasks = [
            asyncio.create_task(
                run_loop(
                    name,
                    tick,
                    wake=self._wakes[name],
                    stopping=self._stopping,
                    on_failure=self.stats.record_loop_failure,
                ),
                name=f"planner-{name}",
            )
            for name, tick in ticks.items()
        ]
        self._tasks.append(asyncio.create_task(listeners.start(), name="planner-listeners"))
        stack.push_async_callback(self._end_loops)
        logger.info(
            "planner started",
            extra={"action": "planner_started", "instance_id": self.settings.instance_id},
        )

    async def serve(self, stop: asyncio.Event) -> None:
        """Return once `stop` is set; re-raise the crash of a loop that dies first."""
        self._crash = await until_stopped_or_crashed(stop, self._tasks)
        if self._crash is not None:
            raise self._crash

    async def close(self) -> None:
        await self._stack.aclose()
        logger.info("planner stopped", extra={"action": "planner_stopped"})

    async def _end_loops(self) -> None:
        """Loops end after their current transaction and commands settle (unless a loop
        crashed: then, as a killed process would, they are just cancelled)."""
        self._stopping.set()
        for wake in self._wakes.values():
            wake.set()
        try:
            if self._crash is None and self._listeners is not None:
                await self._listeners.settle(STOP_TIMEOUT_SECONDS)
                await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_SECONDS)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _hand_over(self, refs: list[RunRef]) -> None:
        """After commit: publish the runs that are due now.

        Their `execution.<status>` events (queued runs, misfire skips, reaper failures)
        were written to the event outbox in the same transaction; the events loop relays
        them, so the planner never waits for the broker and never sheds an event.
        """
        assert self._publisher is not None
        if refs:
            headers = trace_headers()  # the current span's context, on to the executor
            if headers:
                refs = [replace(ref, headers=headers) for ref in refs]
            self._publisher.submit(refs)

    def _hand_over_one(self, row: JobExecution) -> None:
        self._hand_over([RunRef.of(row)] if row.publish_claim else [])

    def _fault(self, point: str) -> None:
        if self._fault_hook is not None:
            self._fault_hook(point)

    async def _plan_tick(self) -> float:
        with tracer().start_as_current_span("planner.plan"):
            return await self._plan()

    async def _plan(self) -> float:
        assert self._publisher is not None
        settings = self.settings
        started = time.perf_counter()
        result = await plan_due_runs(
            self._sessions,
            claim=self._publisher.claim,
            limits=PlanLimits(
                batch_size=settings.planner_batch_size,
                chunk_size=settings.catchup_chunk_size,
                row_budget=max(settings.planner_batch_size, settings.catchup_chunk_size),
                relay_delay=self._relay_delay,
            ),
        )
        skipped = sum(row.status == ExecutionStatus.SKIPPED.value for row in result.written)
        self.stats.record_plan(
            queued=len(result.written) - skipped,
            skipped=skipped,
            seconds=time.perf_counter() - started,
        )
        if result.written:
            self._fault(AFTER_PLAN_COMMIT)
            self._hand_over(result.to_publish)
            logger.log(
                logging.INFO if skipped else logging.DEBUG,
                "planned %d runs and skipped %d misfired fire times of %d jobs",
                len(result.written) - skipped,
                skipped,
                result.claimed,
                extra={"action": "planner_planned", "jobs": result.claimed},
            )
        if result.work_left:
            return 0.0
        earliest, now = await earliest_due(self._sessions)
        return planning_sleep(
            earliest_due=earliest,
            now=now,
            max_sleep=settings.planner_max_sleep_seconds,
            work_left=False,
            claimed=result.claimed > 0,
        )

    async def _relay_tick(self) -> float:
        assert self._publisher is not None
        batch = self.settings.relay_batch_size
        result = await relay_once(
            self._bus,
            self._sessions,
            claim=self._publisher.claim,
            batch_size=batch,
            relay_delay_seconds=self.settings.relay_delay_seconds,
        )
        self.stats.record_relayed(result.published)
        if result.claimed:
            logger.debug(
                "relay published %d of %d due runs",
                result.published,
                result.claimed,
                extra={"action": "relay_published", "count": result.published},
            )
        full = result.claimed >= batch and result.published == result.claimed
        return 0.0 if full else self.settings.relay_interval_seconds

    async def _events_tick(self) -> float:
        """Relay one chunk of the event outbox (any service's events, in order)."""
        batch = self.settings.relay_batch_size
        result = await relay_events_once(
            self._bus,
            self._sessions,
            batch_size=batch,
            relay_delay_seconds=self.settings.relay_delay_seconds,
            on_claimed=derive_notifications,
        )
        self.stats.record_events_relayed(result.published)
        full = result.claimed >= batch and result.published == result.claimed
        return 0.0 if full else self.settings.relay_interval_seconds

    async def _notify_tick(self) -> float:
        """Detect stale jobs (every `stale_check_interval_seconds`), then deliver the
        notifications that are due, concurrently, and record each attempt."""
        settings = self.settings
        assert self._sender is not None
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
        outcomes = [
            Outcome(one.id, one.attempts, error) for one, error in zip(due, errors, strict=True)
        ]
        await finish_notifications(
            self._sessions,
            outcomes,
            max_attempts=settings.notify_max_attempts,
            backoff_seconds=settings.notify_backoff_seconds,
            backoff_cap_seconds=settings.notify_backoff_cap_seconds,
        )
        for one, error in zip(due, errors, strict=True):
            if error is not None:
                logger.warning(
                    "notification %d (%s) not delivered: %s",
                    one.id,
                    one.channel_kind,
                    error,
                    extra={"action": "notification_failed", "notification_id": one.id},
                )
        return 0.0 if len(due) >= limit else settings.notify_interval_seconds

    async def _retry_tick(self) -> float:
        assert self._publisher is not None
        limit = self.settings.planner_batch_size
        result = await write_retries(
            self._sessions,
            claim=self._publisher.claim,
            limit=limit,
            cap_seconds=self.settings.retry_backoff_cap_seconds,
            relay_delay=self._relay_delay,
        )
        self.stats.record_retries(written=len(result.written), exhausted=result.exhausted)
        if result.written:
            self._hand_over(result.to_publish)
            logger.info(
                "wrote %d retries",
                len(result.written),
                extra={"action": "retries_written", "count": len(result.written)},
            )
        # Retries are checked as often as the relay runs, which publishes them when due.
        return 0.0 if result.handled >= limit else self.settings.relay_interval_seconds

    async def _reap_tick(self) -> float:
        limit = self.settings.planner_batch_size
        result = await reap_expired(self._sessions, limit=limit)
        if result.reaped:
            self.stats.record_reaped(len(result.reaped))
            self._wakes["retries"].set()
            for row in result.reaped:
                logger.warning(
                    "execution %s lost its executor (lease expired); marked failed",
                    row.execution_id,
                    extra={
                        "action": "execution_reaped",
                        "job_id": row.job_id,
                        "execution_id": row.execution_id,
                    },
                )
        return 0.0 if result.expired >= limit else self.settings.reaper_interval_seconds

    async def _housekeeping_tick(self) -> float:
        settings = self.settings
        result = await purge_old_rows(
            self._sessions,
            execution_retention_days=settings.execution_retention_days,
            audit_retention_days=settings.audit_retention_days,
            chunk_size=settings.housekeeping_chunk_size,
            keep_going=lambda: not self._stopping.is_set(),
        )
        self.stats.record_purged(executions=result.executions, audit_rows=result.audit_rows)
        if result.executions or result.audit_rows:
            logger.info(
                "purged %d executions and %d audit rows past their retention",
                result.executions,
                result.audit_rows,
                extra={"action": "housekeeping_purged"},
            )
        return settings.housekeeping_interval_seconds

    async def _gauges_tick(self) -> float:
        """Metrics that are states, not events: the outbox backlog, bus reconnects."""
        assert self._publisher is not None
        backlog = await outbox_backlog(self._sessions)
        metrics.OUTBOX_BACKLOG.set(backlog.count)
        metrics.OUTBOX_OLDEST_AGE.set(backlog.oldest_age_seconds)
        metrics.EVENT_OUTBOX_BACKLOG.set(await event_backlog(self._sessions))
        metrics.BUS_RECONNECTS.set(self._bus.reconnects)
        published = self._publisher.published
        metrics.RUNS_PUBLISHED.inc(published - self._published_seen)
        self._published_seen = published
        return self.settings.reaper_interval_seconds
