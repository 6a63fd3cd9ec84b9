"""The heartbeat's decisions, with the database replaced by a scripted `extend`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from tickwork_executor.lease import LeaseKeeper, LeaseState
from tickwork_executor.record.outcomes import StopReason
from tickwork_shared.db.retry import DatabaseUnavailable


def keeper(
    extend: Callable[[], Awaitable[LeaseState]],
    stops: list[StopReason],
    *,
    lease: float = 1.0,
    stopped: asyncio.Event | None = None,
) -> LeaseKeeper:
    """A keeper whose interrupts are appended to `stops` (and set `stopped`)."""

    def interrupt(reason: StopReason) -> None:
        stops.append(reason)
        if stopped is not None:
            stopped.set()

    return LeaseKeeper(
        extend,
        lease_seconds=lease,
        heartbeat_seconds=0.05,
        acquired_at=time.monotonic(),
        interrupt=interrupt,
        log_fields={},
    )


async def interrupted(
    extend: Callable[[], Awaitable[LeaseState]], *, lease: float = 1.0
) -> list[StopReason]:
    """Start a keeper, wait until it interrupts the task (as a supervisor waits for
    the task), close it; the reasons it gave."""
    stops: list[StopReason] = []
    stopped = asyncio.Event()
    k = keeper(extend, stops, lease=lease, stopped=stopped)
    await k.start()
    try:
        await stopped.wait()
    finally:
        await k.close()
    return stops


class HeldLease:
    """An `extend` whose lease is always held; counts the heartbeats."""

    def __init__(self) -> None:
        self.beats = 0

    async def __call__(self) -> LeaseState:
        self.beats += 1
        return LeaseState(held=True)


async def test_a_lost_lease_interrupts() -> None:
    async def extend() -> LeaseState:
        return LeaseState(held=False)

    assert await asyncio.wait_for(interrupted(extend), 1) == [StopReason.LEASE_LOST]


async def test_a_cancel_request_interrupts() -> None:
    async def extend() -> LeaseState:
        return LeaseState(held=True, cancel_requested=True)

    assert await asyncio.wait_for(interrupted(extend), 1) == [StopReason.CANCEL_REQUESTED]


async def test_an_unreachable_database_loses_the_lease_when_it_would_run_out() -> None:
    attempts = 0

    async def extend() -> LeaseState:
        nonlocal attempts
        attempts += 1
        raise DatabaseUnavailable("gone")

    started = time.monotonic()
    assert await asyncio.wait_for(interrupted(extend, lease=0.4), 2) == [StopReason.LEASE_LOST]
    assert 0.35 < time.monotonic() - started < 1.0
    assert attempts >= 3  # it kept trying meanwhile


async def test_a_started_keeper_beats_in_the_background_until_closed() -> None:
    extend = HeldLease()
    stops: list[StopReason] = []
    k = keeper(extend, stops, lease=0.3)
    await k.start()
    await asyncio.sleep(0.6)  # twice the lease: only heartbeats keep it
    await asyncio.wait_for(k.close(), 1)
    after_close = extend.beats
    await asyncio.sleep(0.15)
    assert stops == []
    assert after_close >= 5
    assert extend.beats == after_close  # nothing beats once closed


async def test_a_keeper_closed_before_its_first_heartbeat_never_beats() -> None:
    extend = HeldLease()
    stops: list[StopReason] = []
    k = keeper(extend, stops)
    await k.start()
    await asyncio.sleep(0.01)
    await k.close()
    await asyncio.sleep(0.1)  # past the heartbeat (0.05 s): the timer was cancelled
    assert (extend.beats, stops) == (0, [])


async def test_a_keeper_closed_as_its_first_heartbeat_comes_due_does_not_beat() -> None:
    extend = HeldLease()
    stops: list[StopReason] = []
    k = keeper(extend, stops)
    k._begin()  # what the timer does when the first heartbeat is due: start the task ...
    await k.close()  # ... which is closed before its first step
    assert (extend.beats, stops) == (0, [])
