"""Task functions only the `special` pool's executors load (`tests/e2e/test_pools.py`)."""

from __future__ import annotations

import asyncio
import os

from tickwork_executor.tasks import task_function


@task_function("special.work", description="Only executors of the special pool have this.")
async def work(seconds: float = 0.0) -> dict[str, int]:
    if seconds > 0:
        await asyncio.sleep(seconds)
    return {"pid": os.getpid()}
