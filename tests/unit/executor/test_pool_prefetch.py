"""An executor serving several pools shares its prefetch among their subscriptions."""

from __future__ import annotations

import pytest
from tickwork_executor.intake.pacing import prefetch_for, queue_prefetch_for


@pytest.mark.parametrize(
    ("concurrency", "queues", "each"),
    [(8, 1, 4), (8, 2, 2), (8, 3, 1), (8, 8, 1), (1, 1, 1), (1, 3, 1), (128, 4, 16)],
)
def test_queue_prefetch(concurrency: int, queues: int, each: int) -> None:
    assert queue_prefetch_for(concurrency, queues) == each
    # Never more than the executor's prefetch, unless each queue needs its one message.
    assert each * queues <= max(prefetch_for(concurrency), queues)
