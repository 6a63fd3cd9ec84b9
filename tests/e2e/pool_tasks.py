"""Task functions only the `special` pool's executors load (`tests/e2e/test_pools.py`).

`special.work` appends `<execution id> <start> <end>` (wall clock, seconds) to the file
named by `TICKWORK_E2E_LEDGER` when it ends: when a task body really ran, which the
rows' timestamps (taken around the claim and the record) cannot tell to the millisecond.
"""

from __future__ import annotations

import asyncio
import os
import time

from tickwork_executor.tasks import RunContext, task_function

LEDGER_ENV = "TICKWORK_E2E_LEDGER"


@task_function("special.work", description="Only executors of the special pool have this.")
async def work(seconds: float = 0.0, *, context: RunContext) -> dict[str, int]:
    started = time.time()
    if seconds > 0:
        await asyncio.sleep(seconds)
    path = os.environ.get(LEDGER_ENV)
    if path:
        line = f"{context.execution_id} {started:.6f} {time.time():.6f}\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    return {"pid": os.getpid()}
