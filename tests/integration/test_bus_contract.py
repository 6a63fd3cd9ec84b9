"""The bus contract (tickwork_shared.bus.abc), run against MemoryBus and RabbitBus alike.

Absence ("nothing else was delivered") is proven without sleeping: by a competing
consumer that takes what the consumer under test must not, or by a sentinel message
published last on the same queue, whose arrival means everything before it arrived.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from tickwork_shared.bus import Bus, Delivery, OutgoingMessage
from tickwork_shared.bus.topology import (
    COMMANDS_DEAD_QUEUE,
    COMMANDS_EXCHANGE,
    EVENTS_EXCHANGE,
    LISTENER_PREFETCH,
    RUNS_DEAD_QUEUE,
    RUNS_QUEUE,
    TRIGGER_QUEUE,
    TRIGGER_ROUTING_KEY,
    QueueDepth,
)
from tickwork_shared.errors import BusUnavailable
from tickwork_shared.pools import run_queue_of

from tests.harness.waiting import wait_until
from tests.integration.bus_inbox import WAIT, Inbox, runs

pytestmark = pytest.mark.timeout(60)


async def test_confirmed_run_is_consumed_and_its_ack_is_final(bus: Bus) -> None:
    assert await bus.is_healthy()
    await bus.publish(
        "", RUNS_QUEUE, b"run-1", headers={"traceparent": "00-abc-def-01"}, message_id="m-1"
    )
    inbox = Inbox()
    subscription = await bus.consume(RUNS_QUEUE, inbox, prefetch=5)
    (delivery,) = await inbox.wait_for(1)
    assert delivery.body == b"run-1"
    assert delivery.headers["traceparent"] == "00-abc-def-01"
    assert delivery.message_id == "m-1"
    assert delivery.routing_key == RUNS_QUEUE
    assert not delivery.redelivered
    await subscription.close()

    # An acked message does not come back: the next consumer's first delivery is newer.
    await bus.publish("", RUNS_QUEUE, b"run-2")
    later = Inbox()
    await bus.consume(RUNS_QUEUE, later, prefetch=5)
    assert [d.body for d in await later.wait_for(1)] == [b"run-2"]


async def test_unsettled_delivery_is_redelivered_after_its_subscription_closes(bus: Bus) -> None:
    holder = Inbox(settle="hold")
    subscription = await bus.consume(RUNS_QUEUE, holder, prefetch=1)
    await bus.publish("", RUNS_QUEUE, b"held")
    (held,) = await holder.wait_for(1)
    await subscription.close()

    inbox = Inbox()
    await bus.consume(RUNS_QUEUE, inbox, prefetch=1)
    (again,) = await inbox.wait_for(1)
    assert again.body == b"held"
    assert again.redelivered
    await held.ack()  # too late, and harmless: the contract says swallowed
    await held.ack()  # settling twice does nothing either


async def test_acks_holds_and_rejects_of_one_burst_settle_exactly_their_own(bus: Bus) -> None:
    """RabbitBus sends a burst's acks together (one `multiple` ack for the oldest run of
    acked deliveries): a held delivery among them must still come back, and a rejected
    one must still be dead-lettered, not acked."""
    settle = {b"h": "hold", b"r": "reject"}

    async def mixed(delivery: Delivery) -> None:
        how = settle.get(delivery.body, "ack")
        if how == "ack":
            await delivery.ack()
        elif how == "reject":
            await delivery.reject()
        seen.append(delivery.body)

    seen: list[bytes] = []
    subscription = await bus.consume(RUNS_QUEUE, mixed, prefetch=20)
    bodies = [b"a", b"b", b"h", b"c", b"r", b"d", b"e"]
    assert await bus.publish_many(runs(*bodies)) == [True] * len(bodies)
    await wait_until(lambda: len(seen) == len(bodies), what="every message handled")
    await subscription.close()

    inbox = Inbox()
    await bus.consume(RUNS_QUEUE, inbox, prefetch=20)
    await bus.publish("", RUNS_QUEUE, b"sentinel")
    await inbox.wait_for(2)
    assert inbox.bodies == [b"h", b"sentinel"]  # only the held one came back
    dead = Inbox()
    await bus.consume(RUNS_DEAD_QUEUE, dead, prefetch=5)
    await bus.publish("", RUNS_DEAD_QUEUE, b"sentinel")
    assert [d.body for d in await dead.wait_for(2)] == [b"r", b"sentinel"]


async def test_close_cancels_running_handlers(bus: Bus) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def stuck(delivery: Delivery) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    subscription = await bus.consume(RUNS_QUEUE, stuck, prefetch=1)
    await bus.publish("", RUNS_QUEUE, b"stuck")
    await asyncio.wait_for(started.wait(), WAIT)
    await subscription.close()
    assert cancelled.is_set()


async def test_prefetch_bounds_unsettled_deliveries(bus: Bus) -> None:
    holder = Inbox(settle="hold")
    await bus.consume(RUNS_QUEUE, holder, prefetch=2)
    assert all(await bus.publish_many(runs(*(b"r%d" % i for i in range(5)))))
    await holder.wait_for(2)
    # A competing consumer gets exactly what the held prefetch leaves in the queue.
    rival = Inbox()
    rival_subscription = await bus.consume(RUNS_QUEUE, rival, prefetch=10)
    await wait_until(
        lambda: len(holder.deliveries) + len(rival.deliveries) == 5, what="5 deliveries in all"
    )
    assert len(holder.deliveries) == 2
    await rival_subscription.close()

    # Acks free the slots.
    for delivery in holder.deliveries:
        await delivery.ack()
    await bus.publish_many(runs(b"r5", b"r6"))
    await holder.wait_for(4)
    assert holder.bodies[2:] == [b"r5", b"r6"]


async def test_pause_stops_deliveries_and_resume_restarts_them(bus: Bus) -> None:
    inbox = Inbox()
    subscription = await bus.consume(RUNS_QUEUE, inbox, prefetch=10)
    await bus.publish("", RUNS_QUEUE, b"before")
    await inbox.wait_for(1)

    await subscription.pause()
    await subscription.pause()  # idempotent
    rival = Inbox()
    rival_subscription = await bus.consume(RUNS_QUEUE, rival, prefetch=10)
    assert all(await bus.publish_many(runs(*(b"p%d" % i for i in range(10)))))
    await wait_until(
        lambda: len(inbox.deliveries) + len(rival.deliveries) == 11, what="11 deliveries in all"
    )
    assert inbox.bodies == [b"before"]
    await rival_subscription.close()

    await subscription.resume()
    await bus.publish("", RUNS_QUEUE, b"after")
    await inbox.wait_for(2)
    assert inbox.bodies == [b"before", b"after"]


@pytest.mark.parametrize(
    ("exchange", "routing_key", "queue", "dead_queue"),
    [
        ("", RUNS_QUEUE, RUNS_QUEUE, RUNS_DEAD_QUEUE),
        (COMMANDS_EXCHANGE, TRIGGER_ROUTING_KEY, TRIGGER_QUEUE, COMMANDS_DEAD_QUEUE),
    ],
)
async def test_rejected_message_goes_to_the_dead_letter_queue(
    bus: Bus, exchange: str, routing_key: str, queue: str, dead_queue: str
) -> None:
    rejecter = Inbox(settle="reject")
    await bus.consume(queue, rejecter, prefetch=1)
    await bus.publish(exchange, routing_key, b"poison", message_id="p-1")
    await rejecter.wait_for(1)

    dead = Inbox()
    await bus.consume(dead_queue, dead, prefetch=1)
    (delivery,) = await dead.wait_for(1)
    assert (delivery.body, delivery.message_id) == (b"poison", "p-1")
    assert rejecter.bodies == [b"poison"]  # rejected, not requeued


async def test_handler_exception_dead_letters_and_the_consumer_keeps_going(bus: Bus) -> None:
    inbox = Inbox(fail_on=b"boom")
    await bus.consume(RUNS_QUEUE, inbox, prefetch=1)
    assert await bus.publish_many(runs(b"boom", b"fine")) == [True, True]
    await inbox.wait_for(2)
    assert inbox.bodies == [b"boom", b"fine"]

    dead = Inbox()
    await bus.consume(RUNS_DEAD_QUEUE, dead, prefetch=1)
    assert [d.body for d in await dead.wait_for(1)] == [b"boom"]


async def test_subscribe_routes_by_topic(bus: Bus) -> None:
    jobs, failures = Inbox(), Inbox()
    await bus.subscribe(EVENTS_EXCHANGE, ["job.*"], jobs)
    await bus.subscribe(EVENTS_EXCHANGE, ["#.failed", "job.*"], failures)
    for key in ["job.created", "execution.succeeded", "job.created.extra", "execution.failed"]:
        await bus.publish(EVENTS_EXCHANGE, key, key.encode())
    # Sentinels: once they arrive, everything published before them has arrived.
    await bus.publish(EVENTS_EXCHANGE, "job.sentinel", b"job.sentinel")
    await jobs.wait_for(2)
    await failures.wait_for(3)
    assert jobs.bodies == [b"job.created", b"job.sentinel"]
    # Matching two binding keys still makes one copy.
    assert failures.bodies == [b"job.created", b"execution.failed", b"job.sentinel"]


async def test_listener_deliveries_are_acked_when_the_handler_returns(bus: Bus) -> None:
    # The handler settles nothing; were nothing acked, the listener's prefetch would
    # stop deliveries after LISTENER_PREFETCH messages.
    inbox = Inbox(settle="hold")
    await bus.subscribe(EVENTS_EXCHANGE, ["execution.*"], inbox)
    count = LISTENER_PREFETCH + 1
    events = [OutgoingMessage(EVENTS_EXCHANGE, "execution.queued", b"e") for _ in range(count)]
    assert all(await bus.publish_many(events))
    await inbox.wait_for(count)


async def test_unconfirmed_messages_arrive_in_order(bus: Bus) -> None:
    inbox = Inbox()
    await bus.subscribe(EVENTS_EXCHANGE, ["execution.*"], inbox)
    events = [
        OutgoingMessage(EVENTS_EXCHANGE, "execution.succeeded", b"e%d" % i) for i in range(200)
    ]
    assert await bus.publish_many(events, confirm=False) == [True] * 200
    await inbox.wait_for(200)
    assert inbox.bodies == [b"e%d" % i for i in range(200)]


async def test_confirmed_messages_of_one_ordering_key_arrive_in_order(bus: Bus) -> None:
    # The event relay's promise: the events of one execution in the order written, even
    # though a batch is sent over several lanes at once.
    inbox = Inbox()
    await bus.subscribe(EVENTS_EXCHANGE, ["execution.*"], inbox)
    events = [
        OutgoingMessage(
            EVENTS_EXCHANGE, "execution.running", b"x%d-%d" % (n % 23, n), ordering_key=f"x{n % 23}"
        )
        for n in range(460)
    ]
    assert await bus.publish_many(events) == [True] * 460
    await inbox.wait_for(460)
    for key in range(23):
        mine = [body for body in inbox.bodies if body.startswith(b"x%d-" % key)]
        assert mine == [b"x%d-%d" % (key, n) for n in range(key, 460, 23)]


async def test_unconfirmed_messages_to_nowhere_or_on_a_closed_bus_are_not_sent(bus: Bus) -> None:
    inbox = Inbox()
    await bus.subscribe(EVENTS_EXCHANGE, ["execution.*"], inbox)
    event = OutgoingMessage(EVENTS_EXCHANGE, "execution.succeeded", b"e")
    lost = OutgoingMessage("tickwork.no-such-exchange", "job.created", b"x")
    assert (await bus.publish_many([event, lost], confirm=False))[0] is True
    await inbox.wait_for(1)

    # A message to a missing exchange costs RabbitMQ the channel; it comes back.
    later = OutgoingMessage(EVENTS_EXCHANGE, "execution.succeeded", b"later")

    async def arrived_later() -> bool:
        if b"later" in inbox.bodies:
            return True
        await bus.publish_many([later], confirm=False)
        return False

    await wait_until(
        arrived_later, timeout=WAIT, interval=0.1, what="a publish after the channel came back"
    )
    await bus.close()
    assert await bus.publish_many([event], confirm=False) == [False]


async def test_command_sent_before_any_consumer_waits_in_its_queue(bus: Bus) -> None:
    await bus.publish(COMMANDS_EXCHANGE, TRIGGER_ROUTING_KEY, b'{"jobId": 7}')
    inbox = Inbox()
    await bus.consume(TRIGGER_QUEUE, inbox, prefetch=1)
    (delivery,) = await inbox.wait_for(1)
    assert (delivery.body, delivery.routing_key) == (b'{"jobId": 7}', TRIGGER_ROUTING_KEY)


async def test_publish_many_confirms_every_message(bus: Bus) -> None:
    bodies = [b"batch-%d" % i for i in range(300)]
    assert await bus.publish_many(runs(*bodies)) == [True] * 300
    inbox = Inbox()
    await bus.consume(RUNS_QUEUE, inbox, prefetch=50)
    await inbox.wait_for(300)
    assert sorted(inbox.bodies) == sorted(bodies)


async def test_unroutable_run_and_unknown_exchange_are_refused(bus: Bus) -> None:
    with pytest.raises(LookupError):
        await bus.publish("", "tickwork.no-such-queue", b"lost?")
    with pytest.raises(LookupError):
        await bus.publish("tickwork.no-such-exchange", "job.created", b"lost?")
    messages = [*runs(b"ok-1"), OutgoingMessage("", "tickwork.no-such-queue", b"x"), *runs(b"ok-2")]
    assert await bus.publish_many(messages) == [True, False, True]
    inbox = Inbox()
    await bus.consume(RUNS_QUEUE, inbox, prefetch=5)
    await inbox.wait_for(2)
    assert inbox.bodies == [b"ok-1", b"ok-2"]
    with pytest.raises(LookupError):
        await bus.consume("tickwork.no-such-queue", inbox, prefetch=1)


async def test_closed_bus_refuses_to_publish(bus: Bus) -> None:
    await bus.close()
    assert not await bus.is_healthy()
    with pytest.raises(BusUnavailable):
        await bus.publish("", RUNS_QUEUE, b"too late")
    assert await bus.publish_many(runs(b"too late")) == [False]


async def test_a_pools_run_queue_exists_once_declared_and_keeps_its_runs(bus: Bus) -> None:
    pool = f"pool-{uuid.uuid4().hex[:8]}"
    queue = run_queue_of(pool)
    with pytest.raises(LookupError):  # nobody declared it: a run is refused, not lost
        await bus.publish("", queue, b"too early")
    assert await bus.declare_pool(pool) == queue
    assert await bus.declare_pool(pool) == queue  # idempotent
    await bus.publish("", queue, b"gpu-run")  # kept with no consumer yet
    await bus.publish("", RUNS_QUEUE, b"default-run")
    pooled, default = Inbox(), Inbox()
    await bus.consume(RUNS_QUEUE, default, prefetch=5)
    await bus.consume(queue, pooled, prefetch=5)
    assert [d.body for d in await pooled.wait_for(1)] == [b"gpu-run"]
    assert [d.body for d in await default.wait_for(1)] == [b"default-run"]
    # The sentinel proves nothing else reached either queue.
    await bus.publish("", queue, b"sentinel")
    await pooled.wait_for(2)
    assert pooled.bodies == [b"gpu-run", b"sentinel"]
    assert default.bodies == [b"default-run"]


async def test_a_pools_backlog_counts_the_runs_no_executor_has_taken(bus: Bus) -> None:
    pool = f"pool-{uuid.uuid4().hex[:8]}"
    assert await bus.pool_backlog(pool) == QueueDepth(0, 0)  # declared by the question
    queue = run_queue_of(pool)
    await bus.publish_many([OutgoingMessage("", queue, b"run") for _ in range(3)])
    assert await bus.pool_backlog(pool) == QueueDepth(3, 0)
    taken = Inbox(settle="hold")
    await bus.consume(queue, taken, prefetch=2)  # delivered, not yet settled: not waiting
    await taken.wait_for(2)
    await wait_until(lambda: _backlog_is(bus, pool, QueueDepth(1, 1)), what="one run waiting")


async def _backlog_is(bus: Bus, pool: str, depth: QueueDepth) -> bool:
    return await bus.pool_backlog(pool) == depth


async def test_a_pools_poison_run_is_dead_lettered_like_defaults(bus: Bus) -> None:
    pool = f"pool-{uuid.uuid4().hex[:8]}"
    queue = await bus.declare_pool(pool)
    dead = Inbox()
    await bus.consume(RUNS_DEAD_QUEUE, dead, prefetch=5)
    await bus.publish("", queue, b"poison")
    await bus.consume(queue, Inbox(settle="reject"), prefetch=1)
    assert [d.body for d in await dead.wait_for(1)] == [b"poison"]


async def test_invalid_pool_is_refused_before_the_broker(bus: Bus) -> None:
    with pytest.raises(ValueError, match="pool"):
        await bus.declare_pool("dead")
