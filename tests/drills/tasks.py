"""The drills' task function, loaded by executors through `TICKWORK_TASK_MODULES`.

`drill.tick` appends one line to the ledger file named by `TICKWORK_DRILL_LEDGER` the
moment it really starts, then sleeps. The ledger is the evidence of side effects that the
database cannot give: a task that started twice for one attempt shows up twice, even if
its executor was killed before it could record anything. One `os.write` of a short line
to a file opened with `O_APPEND` lands whole and survives the process being killed.
"""

from __future__ import annotations

import asyncio
import os
import time

from tickwork_executor.tasks import RunContext, task_function

LEDGER_ENV = "TICKWORK_DRILL_LEDGER"
TASK_NAME = "drill.tick"


def ledger_line(context: RunContext, pid: int, at: float) -> str:
    scheduled = context.scheduled_at.isoformat()
    return f"{context.execution_id} {context.job_id} {scheduled} {context.attempt} {pid} {at:.6f}\n"


@task_function(TASK_NAME, description="Drill load: note the start in the ledger, then sleep.")
async def tick(seconds: float = 0.0, *, context: RunContext) -> dict[str, int]:
    path = os.environ.get(LEDGER_ENV)
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, ledger_line(context, os.getpid(), time.time()).encode())
        finally:
            os.close(fd)
    if seconds > 0:
        await asyncio.sleep(seconds)
    return {"pid": os.getpid()}
