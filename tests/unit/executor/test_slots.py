"""Concurrency slots: taken up to the size, waited for beyond, given up on stop."""

from __future__ import annotations

import asyncio

from tickwork_executor.intake.slots import Slots


async def test_slots_fill_wait_and_free() -> None:
    slots, stop = Slots(2), asyncio.Event()
    assert await slots.acquire(stop)
    assert await slots.acquire(stop)
    assert slots.used == slots.size
    waiting = asyncio.create_task(slots.acquire(stop))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    slots.release()
    assert await asyncio.wait_for(waiting, 1)
    assert slots.used == 2


async def test_a_waiter_gives_up_when_stopping_without_taking_a_slot() -> None:
    slots, stop = Slots(1), asyncio.Event()
    assert await slots.acquire(stop)
    waiting = asyncio.create_task(slots.acquire(stop))
    await asyncio.sleep(0.01)
    stop.set()
    assert await asyncio.wait_for(waiting, 1) is False
    slots.release()
    assert slots.used == 0
    assert await slots.acquire(asyncio.Event())  # the slot was not lost


async def test_no_slot_is_taken_once_stopping() -> None:
    slots, stop = Slots(2), asyncio.Event()
    stop.set()
    assert await slots.acquire(stop) is False
    assert slots.used == 0
