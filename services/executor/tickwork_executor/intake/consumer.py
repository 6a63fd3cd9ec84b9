"""Run messages in, claimed runs out: parsing, claiming, settling, slots and back-pressure.

Each delivery is claimed and then settled: acked once the claim committed (from then on
the database is the truth, however long the task runs), rejected (dead-lettered to
`tickwork.runs.dead`) if it is poison. A delivery takes one of `concurrency` slots before
its claim; a run keeps it while its task runs (a sync task: until its thread returns). The
outcome's write does not hold it: under load, runs waiting for their record batch would
otherwise take slots from runs that could start.
A claimed run is started before its delivery is acked: an ack that hangs on a broker that
went away must not keep the run, and its heartbeat, waiting until its lease runs out.

Back-pressure: the subscription's prefetch P is half the concurrency C (at least 1), and
the consumer is paused while more than C - P slots are taken, *before* the claim that took
the slot is acked. An ack lets the broker send one more message; since every ack happens
with at most C - P slots taken and at most P messages are unacked, every delivered message
finds a slot at once: an executor never holds a message it cannot start (a busy executor
does not sit on runs an idle one could take), RabbitMQ's consumer timeout never applies to
a waiting message, and the consumer is paused whenever every slot is taken.

Planned ahead: a message may come before its run's `dueAt` (planners publish runs a little
ahead, `plan_ahead_seconds`). Its handler takes the slot at once, as for any delivery, and
submits its claim to be held until `dueAt` (`Batcher.enqueue_at`): every run due at that
moment is claimed in one batch the instant it comes, so the claim sees the job as it is at
the fire time (a job disabled meanwhile does not run) and no run waits behind a batch of
its neighbours. Stopping withdraws the held claims; their messages are then left
unsettled like any other not yet claimed.

Claims are batched: deliveries that arrive while a claim transaction is in flight are
claimed together in the next one (`batching.Batcher`, `Claimer.claim_many`), so under load
one transaction starts many runs, and at rest a run is claimed at once.

Transient database failures during a claim (after the shared retries) neither settle nor
dead-letter the message: the handler keeps it and retries the claim (`RECOVERY` back-off)
with the same lease token (a claim that committed before its answer was lost is recognised).
While it waits, its prefetch slot is taken, so the executor takes no other run: an
executor that cannot reach the database stops consuming. On shutdown the message is
left unsettled and goes back to the queue when the subscription closes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

from opentelemetry import context as otel_context
from tickwork_shared.bus.abc import Delivery, Subscription
from tickwork_shared.db.retry import is_transient
from tickwork_shared.messages import RunMessage
from tickwork_shared.resilience import Stopped, retry_while_transient
from tickwork_shared.telemetry import context_from_headers, tracer

from tickwork_executor import metrics
from tickwork_executor.batching import Batcher, Withdrawn
from tickwork_executor.claim.claims import Claim, Claimer, ClaimKind, ClaimRequest
from tickwork_executor.errors import PoisonMessage
from tickwork_executor.intake.pacing import queue_prefetch_for, seconds_until_due
from tickwork_executor.intake.run_messages import parse_run_message
from tickwork_executor.intake.slots import Slots
from tickwork_executor.record.outcomes import StopReason
from tickwork_executor.run.shield import finish
from tickwork_executor.run.supervisor import RunEnvironment, RunSupervisor

logger = logging.getLogger(__name__)

MAX_CLAIM_BATCH = 100


@dataclass
class ConsumerStats:
    """Counts since start (logged at shutdown; handy in tests and metrics)."""

    received: int = 0
    claimed: int = 0
    duplicates: int = 0
    ended: int = 0
    deferred: int = 0
    rejected: int = 0
    claim_retries: int = 0
    pauses: int = 0
    waited_for_due: int = 0
    """Deliveries that came before their `dueAt` and waited for it (planned ahead)."""


class RunConsumer:
    """Handles deliveries of `tickwork.runs` for one executor and owns its running tasks."""

    def __init__(
        self, claimer: Claimer, env: RunEnvironment, *, concurrency: int, queues: int = 1
    ) -> None:
        self._claims: Batcher[ClaimRequest, tuple[Claim, float]] = Batcher(
            claimer.claim_many_stamped, max_size=MAX_CLAIM_BATCH
        )
        self._env = env
        self.queue_prefetch = queue_prefetch_for(concurrency, queues)
        """The prefetch of each queue's subscription (one queue per pool served)."""
        self.prefetch = self.queue_prefetch * max(1, queues)
        """Unsettled deliveries the executor may hold at once, over all its queues."""
        self.slots = Slots(concurrency)
        self.stats = ConsumerStats()
        self.runs: dict[str, RunSupervisor] = {}
        self._run_tasks: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Task[object]] = set()
        self._subscription: Subscription | None = None
        self._paused = False
        self._gate_lock = asyncio.Lock()
        self._gate_tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def attached(self) -> bool:
        """True once the subscription is attached: deliveries are being taken."""
        return self._subscription is not None

    async def attach(self, subscription: Subscription) -> None:
        self._subscription = subscription
        await self.sync_gate()

    async def sync_gate(self) -> None:
        """Pause the subscription while more than C - P slots are taken (or stopping).

        A failure (broker away) is logged; the service calls this again periodically.
        """
        if self._gate_settled():
            return
        async with self._gate_lock:
            want_paused = self._wants_pause()
            subscription = self._subscription
            if subscription is None or want_paused == self._paused:
                return
            try:
                if want_paused:
                    await subscription.pause()
                    self.stats.pauses += 1
                else:
                    await subscription.resume()
            except Exception as error:
                logger.warning(
                    "could not %s the consumer: %r",
                    "pause" if want_paused else "resume",
                    error,
                    extra={"action": "consumer_gate_failed"},
                )
                return
            self._paused = want_paused
            logger.debug(
                "consumer %s",
                "paused" if want_paused else "resumed",
                extra={"action": "consumer_gate", "slots_used": self.slots.used},
            )

    def _wants_pause(self) -> bool:
        # With more pools than half the slots, P may exceed C: then pause as soon as one
        # slot is taken (a delivery may then wait for a slot, never for ever).
        threshold = max(0, self.slots.size - self.prefetch)
        return self._stop.is_set() or self.slots.used > threshold

    def _gate_settled(self) -> bool:
        """The gate is as it should be, and no change of it is under way."""
        return self._wants_pause() == self._paused and not self._gate_lock.locked()

    async def handle(self, delivery: Delivery) -> None:
        """The subscription's handler: one delivery of `tickwork.runs`."""
        self.stats.received += 1
        if self._stop.is_set():
            return  # unsettled: back to the queue when the subscription closes
        try:
            message = parse_run_message(delivery.body)
        except PoisonMessage as error:
            await self._reject(delivery, str(error))
            return
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        started = False
        try:
            if not await self.slots.acquire(self._stop):
                return
            try:
                await self.sync_gate()
                # The claim continues the trace the message carried (the api request, the
                # planner's tick); the task's span (`RunSupervisor`) is its child.
                with tracer().start_as_current_span(
                    "executor.claim",
                    context=context_from_headers(delivery.headers),
                    attributes={
                        "tickwork.execution_id": message.execution_id,
                        "tickwork.job_id": message.job_id,
                    },
                ) as span:
                    claimed = await self._claim(message)
                    if claimed is None:
                        return
                    claim, sent_at, cancelled = claimed
                    span.set_attribute("tickwork.claim", claim.kind.value)
                    if claim.kind is ClaimKind.CLAIMED:
                        # Started before the ack: the claim has committed, so the database
                        # is the truth, and an ack stuck on a broker that went away must
                        # not hold the run (and its heartbeat) back until its lease ends.
                        started = self._begin(claim, sent_at)
                    if cancelled:
                        # The handler was cancelled (its channel closed with the broker
                        # connection) while the claim went through: the run is started
                        # all the same; the delivery stays unsettled, and its redelivery
                        # is absorbed by the claim.
                        raise asyncio.CancelledError
                    await self._settle(delivery, message, claim)
            finally:
                if not started:
                    self._free_slot()
        finally:
            self._handlers.discard(task)

    async def _claim(self, message: RunMessage) -> tuple[Claim, float, bool] | None:
        """Claim, retrying transient failures until it works; None if stopping first.

        Also returns when (monotonic) the successful attempt was sent (the lease runs
        from no earlier than that), and whether the handler was cancelled while the claim
        went through (the claim is then returned all the same).
        """
        if self._stop.is_set():
            return None
        request = ClaimRequest(message, str(uuid.uuid4()))
        wait = seconds_until_due(message, time.time())
        # Held until `dueAt` (the first attempt only: a retry is sent at once).
        moment = message.due_at.timestamp() if wait > 0 and message.due_at else None
        self.stats.waited_for_due += moment is not None

        async def attempt() -> tuple[tuple[Claim, float], bool]:
            nonlocal moment
            if moment is not None:
                held, moment = self._claims.enqueue_at(request, moment=moment, delay=wait), None
                return await finish(held)
            return await finish(self._claims.enqueue(request))

        def on_retry(_attempt: int, error: BaseException, _delay: float) -> None:
            self.stats.claim_retries += 1
            logger.warning(
                "claim failed on a transient error (%r); keeping the message, retrying",
                error,
                extra={"action": "claim_retry", "execution_id": message.execution_id},
            )

        try:
            (claim, sent_at), cancelled = await retry_while_transient(
                attempt, is_transient=is_transient, stop=self._stop, on_retry=on_retry
            )
        except (Stopped, Withdrawn):
            return None  # stopping (a held claim withdrawn): the message stays unsettled
        return claim, sent_at, cancelled

    def _begin(self, claim: Claim, acquired_at: float) -> bool:
        """Start the claimed run; True (it holds its slot until recorded)."""
        assert claim.row is not None
        self.stats.claimed += 1
        metrics.run_started(claim.row)
        self._start(claim, acquired_at)
        return True

    async def _settle(self, delivery: Delivery, message: RunMessage, claim: Claim) -> None:
        """Settle the delivery after its claim (a claimed run is already started)."""
        fields = {"execution_id": message.execution_id, "job_id": message.job_id}
        if claim.kind is ClaimKind.UNKNOWN:
            await self._reject(delivery, claim.note, fields)
            return
        await delivery.ack()
        if claim.kind is ClaimKind.CLAIMED:
            return
        if claim.kind is ClaimKind.DUPLICATE:
            self.stats.duplicates += 1
            logger.info(
                "duplicate delivery dropped (%s)",
                claim.note,
                extra={"action": "run_duplicate", **fields},
            )
        elif claim.kind is ClaimKind.DEFERRED:
            self.stats.deferred += 1
            logger.info(
                "%s; the run waits for the relay to republish it",
                claim.note,
                extra={"action": "run_deferred", **fields},
            )
        else:
            assert claim.row is not None
            self.stats.ended += 1
            logger.info(
                "run %s at claim (%s)",
                claim.row.status,
                claim.note,
                extra={"action": "run_ended_at_claim", "status": claim.row.status, **fields},
            )
            metrics.run_ended(claim.row, claim.job_type)

    def _start(self, claim: Claim, acquired_at: float) -> None:
        assert claim.row is not None
        # The task's span is a child of the claim's (current here), which continues the
        # message's trace; a message without trace context (republished by a relay) thus
        # still gives claim and task one trace. The context is handed over as it is, not
        # through headers: nothing crosses a process here.
        supervisor = RunSupervisor(
            self._env,
            claim,
            acquired_at=acquired_at,
            trace_context=otel_context.get_current(),
            on_task_over=self._release_slot,
        )
        self.runs[supervisor.lease.execution_id] = supervisor
        task = asyncio.create_task(self._supervise(supervisor))
        self._run_tasks.add(task)
        task.add_done_callback(self._run_tasks.discard)

    async def _supervise(self, supervisor: RunSupervisor) -> None:
        try:
            await supervisor.run()
        except Exception:
            logger.exception(
                "run supervisor failed", extra={"action": "run_crashed", **supervisor.log_fields}
            )
        finally:
            del self.runs[supervisor.lease.execution_id]
            self._release_slot(supervisor)  # if the supervisor ended before its task did

    def _release_slot(self, supervisor: RunSupervisor) -> None:
        """Give the run's slot back, once: now, or when its lingering threads return."""
        if supervisor.slot_released:
            return
        supervisor.slot_released = True
        lingering = [thread for thread in supervisor.threads if not thread.done()]
        if not lingering:
            self._free_slot()
            return
        logger.warning(
            "a sync task outlived its run; its slot stays taken until it returns",
            extra={"action": "thread_lingering", **supervisor.log_fields},
        )
        remaining = len(lingering)

        def returned(_: object) -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0:
                self._free_slot()

        for thread in lingering:
            thread.add_done_callback(returned)

    def _free_slot(self) -> None:
        self.slots.release()
        if self._gate_settled():
            return  # the common case: no task to start
        task = asyncio.get_running_loop().create_task(self.sync_gate())
        self._gate_tasks.add(task)
        task.add_done_callback(self._gate_tasks.discard)

    async def _reject(
        self, delivery: Delivery, why: str, fields: dict[str, object] | None = None
    ) -> None:
        self.stats.rejected += 1
        logger.error(
            "poison run message dead-lettered: %s",
            why,
            extra={"action": "poison_message", **(fields or {})},
        )
        await delivery.reject()

    async def drain(self, grace_seconds: float, *, final_write_seconds: float = 30.0) -> None:
        """Stop taking runs; let running ones finish within the grace, give the rest up.

        Handlers still claiming finish their claim first (a claimed run is run, not
        dropped); then runs get `grace_seconds`; those still running are interrupted
        and give their leases up, so the reaper retries them as new attempts.
        """
        self._stop.set()
        self._claims.withdraw_held()
        await self.sync_gate()
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=final_write_seconds)
        if self._run_tasks:
            _, pending = await asyncio.wait(set(self._run_tasks), timeout=grace_seconds)
            if pending:
                logger.warning(
                    "%d runs still going after the grace period; giving their leases up",
                    len(pending),
                    extra={"action": "shutdown_interrupt"},
                )
                for supervisor in list(self.runs.values()):
                    supervisor.interrupt(StopReason.SHUTDOWN)
                await asyncio.wait(pending, timeout=final_write_seconds)
        if self._gate_tasks:
            await asyncio.wait(set(self._gate_tasks), timeout=final_write_seconds)
