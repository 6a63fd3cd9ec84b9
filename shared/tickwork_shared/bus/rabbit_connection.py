"""aio-pika's robust connection, moved round-robin across the brokers of a cluster."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from aio_pika.robust_connection import RobustConnection
from yarl import URL

from tickwork_shared.resilience import Backoff

connect_transport = vars(RobustConnection)["_RobustConnection__connect_transport"]
"""aio-pika's one connection attempt (initial and every reconnect), which connects to
`self.url`. Looked up at import, so an aio-pika that renames it fails at once (and
`test_rabbit_bus` says so) rather than silently sticking to one node."""


class RoundRobinConnection(RobustConnection):
    """A robust connection that tries the next of `urls` on each connection attempt, and
    waits between failed attempts as `reconnect` says.

    The broker a connection dies with is the one least likely to answer next: each
    attempt after a loss (and each failed attempt) moves on round-robin, so a client of a
    three-node cluster is back on a live node after at most two attempts. Query
    parameters (heartbeat…) are read from the first URL.
    """

    def __init__(
        self, urls: Sequence[str], first: int = 0, *, reconnect: Backoff, **kwargs: Any
    ) -> None:
        self.urls = [URL(url) for url in urls]
        self._next = first % len(self.urls)
        self._reconnect = reconnect
        self._failures = 0
        super().__init__(
            self.urls[self._next], reconnect_interval=reconnect.delay(1, 0.0), **kwargs
        )

    async def _RobustConnection__connect_transport(self) -> None:
        # Overrides aio-pika's private attempt (name-mangled): see `connect_transport`.
        self.url = self.urls[self._next]
        self._next = (self._next + 1) % len(self.urls)
        # aio-pika sleeps `reconnect_interval` after a failed attempt: the back-off's
        # delay for this one, should it fail (a fixed interval in aio-pika itself).
        self._failures += 1
        self.reconnect_interval = self._reconnect.delay(self._failures, random.random())
        await connect_transport(self)
        self._failures = 0
