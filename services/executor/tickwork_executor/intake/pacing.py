"""How many deliveries an executor takes at once, and when a delivery may be claimed.

Pure: the consumer (`intake.consumer`) explains why prefetch is half the slots and why a run
published ahead waits for its `dueAt`.
"""

from __future__ import annotations

from tickwork_shared.messages import RunMessage

MAX_EARLY_SECONDS = 60.0
"""The longest a delivery waits for its `dueAt`: the most a planner plans ahead. A later
`dueAt` (a clock far off, a forged message) is not worth a slot for longer."""


def seconds_until_due(message: RunMessage, now: float) -> float:
    """How long a run published ahead waits before its claim (0: claim now); `now` is
    wall-clock seconds since the epoch, as `dueAt` is."""
    if message.due_at is None:
        return 0.0
    return min(max(0.0, message.due_at.timestamp() - now), MAX_EARLY_SECONDS)


def prefetch_for(concurrency: int) -> int:
    """The prefetch of an executor with `concurrency` slots: half of them, at least 1."""
    return max(1, concurrency // 2)


def queue_prefetch_for(concurrency: int, queues: int) -> int:
    """The prefetch of each of `queues` subscriptions (one per pool): the executor's
    prefetch shared among them, at least 1 each."""
    return max(1, prefetch_for(concurrency) // max(1, queues))
