"""`Executor`: one executor process's worth of consuming, running and registering.

Stateless: every fact lives in the database, so any number of executors may run side by
side and any of them may die; what a dead one held comes back through the reaper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterable
from functools import partial

from tickwork_shared.bus.abc import Bus, Subscription
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.db.retry import is_transient
from tickwork_shared.lifecycle import Service
from tickwork_shared.resilience import (
    repeat_until_stopped,
    retry_until_done,
    sleep_unless_stopped,
)
from tickwork_shared.secret_store import SecretStore
from tickwork_shared.settings import Settings

from tickwork_executor import metrics
from tickwork_executor.batching import Batcher
from tickwork_executor.claim.claims import Claimer
from tickwork_executor.errors import ExecutorError
from tickwork_executor.faults import Fault, fault_from_env
from tickwork_executor.intake.consumer import RunConsumer
from tickwork_executor.intake.subscriptions import SubscriptionGroup
from tickwork_executor.record.records import record_outcomes
from tickwork_executor.registration import ExecutorInfo, heartbeat, register_task_functions
from tickwork_executor.run.builtins import Boundaries, boundaries_of, builtin_functions
from tickwork_executor.run.runner import create_pool
from tickwork_executor.run.supervisor import RunEnvironment
from tickwork_executor.tasks import TaskRegistry, spec_of

logger = logging.getLogger(__name__)

MAX_RECORD_BATCH = 100
"""Outcomes written per transaction at most (more wait for the next one)."""
GATE_CHECK_SECONDS = 1.0
"""How often the consumer's pause/resume state is re-applied (after a broker outage)."""


def build_registry(
    bus: Bus, task_modules: Iterable[str], boundaries: Boundaries | None = None
) -> TaskRegistry:
    """The built-ins plus every task function of `task_modules` (imported here).

    Raises `TaskDefinitionError` for a module that does not import or a function that
    cannot be offered, so a broken deployment fails at start, not run by run.
    """
    registry = TaskRegistry(spec_of(func) for func in builtin_functions(bus, boundaries))
    for module in task_modules:
        registry.load_module(module)
    return registry


class Executor(Service):
    """Claims and runs runs from its pools' queues until stopped.

    `publish_bus`, when given, carries `amqp.publish` (the user's messages) instead of
    `bus` (see `TICKWORK_AMQP_PUBLISH_URL`); the caller starts and closes it. `fault` is
    awaited at each fault point (`faults`); without, `TICKWORK_EXECUTOR_FAULT` decides.

    `async with executor: await executor.serve(stop)`: `serve` registers the task
    functions (waiting out a database that is not up yet) and consumes until `stop` is
    set; leaving the block shuts down gracefully: no new runs, running ones get
    `shutdown_grace_seconds`, the rest are interrupted and their leases given up for the
    reaper to retry.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sessions: SessionFactory,
        bus: Bus,
        publish_bus: Bus | None = None,
        fault: Fault | None = None,
    ) -> None:
        if settings.heartbeat_seconds >= settings.lease_seconds:
            raise ExecutorError(
                f"heartbeat_seconds ({settings.heartbeat_seconds}) must be shorter than "
                f"lease_seconds ({settings.lease_seconds}), or leases expire between beats"
            )
        self._settings = settings
        self._sessions = sessions
        self._bus = bus
        self.registry = build_registry(
            bus, settings.task_modules, boundaries_of(settings, publish_bus)
        )
        self._pool = create_pool(settings.executor_concurrency)
        if fault is None:
            fault = fault_from_env(os.environ)
        env = RunEnvironment(
            sessions=sessions,
            recorder=Batcher(
                partial(record_outcomes, sessions, fault=fault), max_size=MAX_RECORD_BATCH
            ),
            fault=fault,
            bus=bus,
            registry=self.registry,
            pool=self._pool,
            lease_seconds=settings.lease_seconds,
            heartbeat_seconds=settings.heartbeat_seconds,
            max_result_bytes=settings.max_result_bytes,
            secrets=SecretStore(settings.secrets_dir),
        )
        claimer = Claimer(
            sessions=sessions,
            executor_id=settings.instance_id,
            host_name=socket.gethostname(),
            offered=frozenset(self.registry.names),
            lease_seconds=settings.lease_seconds,
            overlap_requeue_seconds=settings.overlap_requeue_seconds,
            fault=fault,
        )
        self.pools = list(settings.executor_pools)
        self.consumer = RunConsumer(
            claimer, env, concurrency=settings.executor_concurrency, queues=len(self.pools)
        )
        self._info = ExecutorInfo(
            executor_id=settings.instance_id,
            host_name=socket.gethostname(),
            pools=self.pools,
            concurrency=settings.executor_concurrency,
        )
        self._done = asyncio.Event()
        self._started = False
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        if self._started:
            raise ExecutorError("an Executor runs once")
        self._started = True

    async def serve(self, stop: asyncio.Event) -> None:
        """Register, then consume until `stop` is set (returns at once if it is first)."""
        if not await self._register_at_start(stop):
            return
        self._subscription = await self._consume_pools()
        logger.info(
            "executor consuming pools %s with %d slots; offers %s",
            ", ".join(self.pools),
            self._settings.executor_concurrency,
            ", ".join(self.registry.names),
            extra={
                "action": "executor_started",
                "executor_id": self._settings.instance_id,
                "pools": self.pools,
            },
        )
        await self.consumer.attach(self._subscription)
        await self._until_stopped(stop)

    async def close(self) -> None:
        """Drain (see the class), close the subscription, stop the task threads."""
        try:
            if self._subscription is not None:
                try:
                    await self.consumer.drain(self._settings.shutdown_grace_seconds)
                finally:
                    await self._subscription.close()
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._done.set()
            logger.info(
                "executor stopped",
                extra={"action": "executor_stopped", **vars(self.consumer.stats)},
            )

    async def _consume_pools(self) -> Subscription:
        """Declare each pool's run queue and consume it; one group for the gate."""
        members: list[Subscription] = []
        try:
            for pool in self.pools:
                queue = await self._bus.declare_pool(pool)
                members.append(
                    await self._bus.consume(
                        queue, self.consumer.handle, prefetch=self.consumer.queue_prefetch
                    )
                )
        except BaseException:
            await SubscriptionGroup(members).close()
            raise
        return members[0] if len(members) == 1 else SubscriptionGroup(members)

    @property
    def consuming(self) -> bool:
        """True from the moment serve() consumes its pools' queues (functions registered)."""
        return self.consumer.attached and not self._done.is_set()

    async def _register_at_start(self, stop: asyncio.Event) -> bool:
        """Register the task functions, waiting out a database that is not up yet.

        False if stopped first. Runs are only taken once the api can see the functions.
        """

        async def register() -> None:
            await register_task_functions(self._sessions, self.registry, self.pools)
            await self._heartbeat(starting=True)

        def on_retry(_failures: int, error: BaseException, delay: float) -> None:
            logger.warning(
                "cannot register the task functions yet (%r); retrying in %.1f s",
                error,
                delay,
                extra={"action": "registration_failed"},
            )

        return await retry_until_done(
            register, is_transient=is_transient, stop=stop, on_retry=on_retry
        )

    async def _heartbeat(self, *, starting: bool = False) -> None:
        await heartbeat(
            self._sessions,
            self._info,
            self.registry,
            in_flight=self.consumer.slots.used,
            forget_after_seconds=self._settings.executor_forget_seconds,
            starting=starting,
        )

    async def _until_stopped(self, stop: asyncio.Event) -> None:
        """Every `GATE_CHECK_SECONDS` until `stop`: re-apply the consumer's gate, beat,
        refresh the task functions when due (`repeat_until_stopped`: a failure is logged
        and the loop goes on after the `RECOVERY` back-off)."""
        refresh_every = self._settings.task_function_ttl_seconds / 3
        next_refresh = time.monotonic() + refresh_every
        beat_every = self._settings.executor_heartbeat_seconds
        next_beat = time.monotonic() + beat_every
        beat: asyncio.Task[None] | None = None

        async def upkeep() -> float:
            nonlocal next_beat, next_refresh, beat
            await self.consumer.sync_gate()
            metrics.bus_reconnects(self._bus.reconnects)
            if time.monotonic() >= next_beat and (beat is None or beat.done()):
                # In the background: a database that hangs must not hold up the gate.
                next_beat = time.monotonic() + beat_every
                beat = asyncio.create_task(self._beat_quietly(), name="executor-heartbeat")
            next_refresh = await self._refresh_when_due(next_refresh, refresh_every)
            return GATE_CHECK_SECONDS

        def failed(failures: int, error: Exception, delay: float) -> None:
            log = logger.warning if is_transient(error) else logger.exception
            log(
                "executor upkeep failed (%r); retrying in %.1f s",
                error,
                delay,
                extra={"action": "executor_upkeep_failed", "failures": failures},
            )

        try:
            if not await sleep_unless_stopped(GATE_CHECK_SECONDS, stop):
                await repeat_until_stopped(upkeep, stop=stop, on_failure=failed)
        finally:
            if beat is not None:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat

    async def _beat_quietly(self) -> None:
        """One heartbeat; a failure is logged (the next beat tries again)."""
        try:
            await self._heartbeat()
        except Exception as error:
            logger.warning(
                "could not write the executor heartbeat: %r",
                error,
                extra={"action": "heartbeat_failed"},
            )

    async def _refresh_when_due(self, next_refresh: float, refresh_every: float) -> float:
        """Refresh the task functions if it is time; when to next."""
        if time.monotonic() < next_refresh:
            return next_refresh
        next_refresh = time.monotonic() + refresh_every
        try:
            await register_task_functions(self._sessions, self.registry, self.pools)
        except Exception as error:
            if not is_transient(error):
                raise
            logger.warning(
                "could not refresh the task functions: %r",
                error,
                extra={"action": "registration_failed"},
            )
        return next_refresh
