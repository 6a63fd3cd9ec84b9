"""Past capacity: a pool whose queue is already deep gets no new runs until it drains.

When runs come due faster than the executors of a pool start them, publishing more only
lengthens the queue: every run waits longer, the database and the broker carry a growing
backlog, and the planner's own work (rows, events, publishes) takes the CPU the executors
need, so they drain slower still (measured: bench/README.md, "past capacity"). Instead,
once `per_executor` runs per executor consuming it wait in a pool's queue (beyond what the
executors hold prefetched), the planner stops planning that pool's jobs. Their
`next_run_at` stays where it is; when the queue has drained below the limit they are
planned again, and the fire times passed meanwhile are decided by each job's misfire
policy like any other late fire time (the planner writes `skipped` rows for misfires in
bulk, no message and no claim each). So past capacity the executors keep their pace, every
fire time still ends in a record, and a run starts late only as its misfire policy allows
(the claim checks it again).

The depths come from the broker (`Bus.pool_backlog`), read at most every `recheck`
seconds per pool: a pool the planner published to, or one it holds back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from tickwork_shared.bus.topology import QueueDepth
from tickwork_shared.errors import BusUnavailable

logger = logging.getLogger(__name__)

BACKLOG_RECHECK_SECONDS = 0.2
"""How often the depth of a pool's queue is read again (one broker round trip each): a
held-back pool is planned again within this of draining."""


@dataclass
class PoolGate:
    """Which pools' jobs are held back, from the latest depth of each pool's queue."""

    per_executor: int
    """Runs waiting in a pool's queue, per executor consuming it (at least one), at which
    its jobs are held back: a larger fleet drains a longer queue as fast."""
    recheck: float
    """Seconds between two readings of one pool's depth."""
    _depths: dict[str, tuple[QueueDepth, float]] = field(default_factory=dict)
    """pool -> (its queue, when read, monotonic)."""

    def limit(self, depth: QueueDepth) -> int:
        return self.per_executor * max(1, depth.consumers)

    def _full(self, depth: QueueDepth) -> bool:
        return depth.waiting >= self.limit(depth)

    @property
    def held_back(self) -> list[str]:
        """The pools whose jobs are not planned now, sorted."""
        return sorted(pool for pool, (depth, _) in self._depths.items() if self._full(depth))

    def to_read(self, published_to: Iterable[str], now: float) -> list[str]:
        """The pools whose depth is due for a reading: those published to or held back,
        not read within `recheck`."""
        pools = set(published_to) | set(self.held_back)
        return sorted(
            pool
            for pool in pools
            if pool not in self._depths or now - self._depths[pool][1] >= self.recheck
        )

    def record(self, pool: str, depth: QueueDepth, now: float) -> None:
        """Note a reading; log when the pool is held back or released by it."""
        was = pool in self.held_back
        self._depths[pool] = (depth, now)
        fields = {"pool": pool, "waiting": depth.waiting, "executors": depth.consumers}
        if self._full(depth) and not was:
            logger.warning(
                "pool %s: %d runs wait in its queue for %d executors (limit %d): its jobs"
                " are not planned until it drains; fire times passed meanwhile follow their"
                " misfire policy",
                pool,
                depth.waiting,
                depth.consumers,
                self.limit(depth),
                extra={"action": "planner_pool_held_back", **fields},
            )
        elif was and not self._full(depth):
            logger.warning(
                "pool %s: %d runs wait in its queue: its jobs are planned again",
                pool,
                depth.waiting,
                extra={"action": "planner_pool_released", **fields},
            )

    async def read(
        self,
        backlog: Callable[[str], Awaitable[QueueDepth]],
        published_to: Iterable[str],
        now: float,
    ) -> None:
        """Read the depths due for a reading. A broker that does not answer leaves the
        last reading standing: the publisher has the outage to deal with already."""
        for pool in self.to_read(published_to, now):
            try:
                depth = await backlog(pool)
            except BusUnavailable:
                continue
            self.record(pool, depth, now)
