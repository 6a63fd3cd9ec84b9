"""`Planner`: the planner service, its loops and their lifecycle.

One `Planner` runs these tasks side by side, each a loop of short transactions:
planning (due jobs → rows), the outbox relay, the event relay, notifications, retries,
the reaper, housekeeping and the gauges; plus two bus consumers, inbound `job.trigger`
commands and `job.*` events that wake planning.
Every loop survives failures (a database or broker outage included): it logs, backs off
and goes on. Leaving `async with planner` ends them between transactions. The decisions
live in the modules the loops call (`planning`, `relay`, `commands`, `retries`, `reaper`,
`housekeeping`); the notifications and gauges ticks are their own (`notify_loop`,
`gauges`), and the points where a test makes the planner die are in `faults`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import timedelta

from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.models import JobExecution
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.events import relay_events_once
from tickwork_shared.lifecycle import Service
from tickwork_shared.outbox import OutboxPublisher, RunRef
from tickwork_shared.resilience import Tick
from tickwork_shared.settings import Settings
from tickwork_shared.telemetry import trace_headers, tracer

from tickwork_planner.backpressure import BACKLOG_RECHECK_SECONDS, PoolGate
from tickwork_planner.catchup import plan_horizon
from tickwork_planner.commands import TriggerConsumer
from tickwork_planner.errors import PlannerError
from tickwork_planner.faults import AFTER_PLAN_COMMIT, FaultHook
from tickwork_planner.gauges import Gauges
from tickwork_planner.housekeeping import purge_old_rows
from tickwork_planner.listeners import BusListeners
from tickwork_planner.loops import run_loop, until_stopped_or_crashed
from tickwork_planner.notifications import derive as derive_notifications
from tickwork_planner.notify_loop import NotifyLoop
from tickwork_planner.planning import PlanLimits, earliest_due, plan_due_runs
from tickwork_planner.reaper import reap_expired
from tickwork_planner.relay import relay_once
from tickwork_planner.retries import write_retries
from tickwork_planner.stats import PlannerStats
from tickwork_planner.timing import planning_sleep
from tickwork_planner.unclaimed import requeue_unclaimed

logger = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 10.0
"""How long closing lets loops finish their transaction and commands settle on stop."""


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
        self._plan_ahead = timedelta(seconds=settings.plan_ahead_seconds)
        self._gate = PoolGate(
            per_executor=settings.pool_backlog_per_executor, recheck=BACKLOG_RECHECK_SECONDS
        )
        self._published_pools: set[str] = set()
        """Pools published to since the gate last read their depths."""
        self._tasks: list[asyncio.Task[None]] = []
        self._crash: BaseException | None = None
        self._stack = AsyncExitStack()

    @property
    def subscribed(self) -> bool:
        """True once both consumers (commands, `job.*` wake-ups) are started."""
        return self._listeners is not None and self._listeners.started

    @property
    def held_back_pools(self) -> list[str]:
        """Pools whose jobs are not planned now: their queues are past the backlog limit."""
        return self._gate.held_back

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
        gauges = Gauges(
            self._sessions, self._bus, publisher, every=self.settings.reaper_interval_seconds
        )
        notify = NotifyLoop(self.settings, self._sessions)
        stack.push_async_callback(notify.close)
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
            "notifications": notify.tick,
            "retries": self._retry_tick,
            "reaper": self._reap_tick,
            "unclaimed": self._unclaimed_tick,
            "housekeeping": self._housekeeping_tick,
            "gauges": gauges.tick,
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
        if self._gate.per_executor:
            await self._gate.read(self._bus.pool_backlog, self._published_pools, time.monotonic())
            self._published_pools.clear()
        held_back = tuple(self._gate.held_back)
        started = time.perf_counter()
        result = await plan_due_runs(
            self._sessions,
            claim=self._publisher.claim,
            limits=PlanLimits(
                batch_size=settings.planner_batch_size,
                chunk_size=settings.catchup_chunk_size,
                row_budget=max(settings.planner_batch_size, settings.catchup_chunk_size),
                relay_delay=self._relay_delay,
                plan_ahead=self._plan_ahead,
                held_back_pools=held_back,
            ),
        )
        if self._gate.per_executor:
            self._published_pools.update(ref.pool for ref in result.to_publish)
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
        sleep = planning_sleep(
            earliest_due=earliest,
            now=plan_horizon(now, self._plan_ahead),
            max_sleep=settings.planner_max_sleep_seconds,
            work_left=False,
            claimed=result.claimed > 0,
        )
        if held_back and not result.claimed:
            # The due jobs are held back and stay due: wait for their queues' next reading
            # instead of spinning on them.
            return min(max(sleep, BACKLOG_RECHECK_SECONDS), settings.planner_max_sleep_seconds)
        return sleep

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

    async def _unclaimed_tick(self) -> float:
        settings = self.settings
        result = await requeue_unclaimed(
            self._sessions,
            self._bus.pool_backlog,
            after_seconds=settings.unclaimed_republish_seconds,
            limit=settings.relay_batch_size,
        )
        if result.pools:
            self.stats.record_republished(sum(result.pools.values()))
            self._wakes["relay"].set()
        # A lost run waits at most a quarter longer; a backlog's pools are read less often.
        return max(settings.reaper_interval_seconds, settings.unclaimed_republish_seconds / 4)

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
