"""`tickwork dev`: api, planner and executor in one process on embedded defaults.

The same service code as production; only the database (a SQLite file in the current
folder) and the bus (in-process) differ. Prints where the API and the web console (`/ui`)
are, an admin key (kept in `./tickwork-dev-admin.key`, mode 0600, so a restart prints the
same one) and a `curl` line that creates a job; then logs each execution as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path

import orjson
import uvicorn
from tickwork_shared.bus.abc import Delivery
from tickwork_shared.bus.memory import MemoryBus
from tickwork_shared.bus.topology import EVENTS_EXCHANGE
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.enums import Role
from tickwork_shared.lifecycle import run_service
from tickwork_shared.logs import configure_logging
from tickwork_shared.migrate import upgrade_to_head_async
from tickwork_shared.setting_errors import unknown_variables
from tickwork_shared.settings import Settings, load_settings
from tickwork_shared.telemetry import configure_tracing
from tickwork_shared.wiring import open_database

logger = logging.getLogger("tickwork.dev")

DATABASE_FILE = "tickwork.db"
KEY_FILE = "tickwork-dev-admin.key"
STATUS_MARKS = {
    "queued": "·",
    "running": "▶",
    "succeeded": "✔",
    "failed": "✘",
    "timed_out": "⏱",
    "cancelled": "■",
    "skipped": "↷",
}


def dev_settings(folder: Path) -> Settings:
    """Production settings from the environment, with dev's embedded defaults on top."""
    return load_settings(
        database_url=f"sqlite+aiosqlite:///{folder / DATABASE_FILE}",
        api_host="127.0.0.1",
        log_format="human",
        database_pool_size=5,
        relay_delay_seconds=2.0,
    )


def create_private_database(folder: Path) -> Path:
    """`./tickwork.db`, created empty with mode 0600 if absent, before SQLite opens it.

    It holds the key hashes, the jobs' arguments and their history: readable by its
    owner only. SQLite gives its journal and WAL files the same mode. An existing file
    keeps the mode its owner gave it.
    """
    path = folder / DATABASE_FILE
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def read_or_create_key(folder: Path) -> str:
    path = folder / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    key = "tw_" + secrets.token_urlsafe(32)
    # Created with 0600 from the start: the key never sits world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def banner(settings: Settings, key: str) -> str:
    base = f"http://{settings.api_host}:{settings.api_port}"
    job = (
        '{"name": "hello-every-5s", "taskFunction": "tickwork.noop", "args": {}, '
        '"schedule": {"kind": "interval", "seconds": 5}}'
    )
    return "\n".join(
        [
            "",
            "tickwork dev is running (api, planner and executor in this process)",
            f"  API:        {base}/api/v1",
            f"  API docs:   {base}/docs",
            f"  console:    {base}/ui  (web console: sign in with the admin key below)",
            f"  admin key:  {key}",
            f"  (the key is kept in ./{KEY_FILE}; the database in ./{DATABASE_FILE})",
            "",
            "Create a job that runs every 5 seconds:",
            f"  curl -s -X POST {base}/api/v1/jobs -H 'Authorization: Bearer {key}' "
            f"-H 'Content-Type: application/json' -d '{job}'",
            "See its runs:",
            f"  curl -s '{base}/api/v1/executions' -H 'Authorization: Bearer {key}'",
            "",
            "Press Ctrl-C to stop.",
            "",
        ]
    )


async def log_execution(delivery: Delivery) -> None:
    """One compact line per execution event, for a person watching the terminal."""
    event = orjson.loads(delivery.body)
    status = str(event.get("status", "?"))
    line = f"{STATUS_MARKS.get(status, '?')} {status:<9} job {event.get('jobId')}"
    line += f" attempt {event.get('attempt')} ({event.get('trigger')})"
    if event.get("durationMs") is not None:
        line += f" in {event['durationMs']} ms"
    if event.get("reason"):
        line += f" — {event['reason']}"
    if event.get("error"):
        line += f" — {str(event['error'])[:120]}"
    logger.info(line)


async def _wait_for_task_functions(sessions: SessionFactory) -> None:
    """The executor registers its task functions at start; job creation needs them."""
    from sqlalchemy import func, select
    from tickwork_shared.db.models import TaskFunction

    async with asyncio.timeout(30):
        while True:
            async with sessions() as session:
                if await session.scalar(select(func.count()).select_from(TaskFunction)):
                    return
            await asyncio.sleep(0.1)


async def serve_dev(folder: Path, stop: asyncio.Event) -> None:
    from tickwork_api.app import create_app
    from tickwork_api.keys import ensure_api_key
    from tickwork_api.server import Server, serve_until
    from tickwork_executor.service import Executor
    from tickwork_planner.service import Planner

    settings = dev_settings(folder)
    # One provider for the whole process; OTEL_TRACES_EXPORTER=console prints spans.
    configure_tracing("tickwork-dev")
    create_private_database(folder)
    await upgrade_to_head_async(settings.database_url)
    key = read_or_create_key(folder)

    async with AsyncExitStack() as stack:
        sessions = await stack.enter_async_context(open_database(settings))
        bus = await stack.enter_async_context(MemoryBus())
        await ensure_api_key(sessions, key, "tickwork dev admin", Role.ADMIN)
        watcher = await bus.subscribe(EVENTS_EXCHANGE, ["execution.*"], log_execution)
        stack.push_async_callback(watcher.close)
        # Closed in reverse: the planner stops first, then the executor drains.
        executor = await stack.enter_async_context(Executor(settings, sessions=sessions, bus=bus))
        planner = await stack.enter_async_context(Planner(settings, sessions=sessions, bus=bus))
        server = Server(
            uvicorn.Config(
                create_app(settings, sessions=sessions, bus=bus),
                host=settings.api_host,
                port=settings.api_port,
                log_config=None,
                access_log=False,
            )
        )
        tasks = [
            asyncio.create_task(executor.serve(stop), name="executor"),
            asyncio.create_task(planner.serve(stop), name="planner"),
            asyncio.create_task(serve_until(server, stop), name="api"),
        ]
        await _wait_for_task_functions(sessions)
        # uvicorn has no start event to await, only this flag.
        while not server.started and not any(task.done() for task in tasks):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if server.started:
            print(banner(settings, key), flush=True)
        await _until_stop_or_crash(stop, tasks)
        logger.info("stopping tickwork dev")
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _until_stop_or_crash(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    for task in done:
        if task is not stopper and task.exception() is not None:
            logger.error("%s stopped unexpectedly", task.get_name(), exc_info=task.exception())


def run_dev() -> int:
    """`tickwork dev` until Ctrl-C or SIGTERM; the exit code (`run_service`)."""
    configure_logging("human", os.environ.get("TICKWORK_LOG_LEVEL", "INFO"))
    for warning in unknown_variables(os.environ, Settings):
        logger.warning(warning)
    return run_service(partial(serve_dev, Path.cwd()), name="dev")
