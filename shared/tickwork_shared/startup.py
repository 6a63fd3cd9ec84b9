"""Start-up checks every service runs before it starts: the database answers with the
schema this code needs, and RabbitMQ takes the login, the virtual host and the topology.

A permanent failure (see `startup_rules`) raises `StartupFailed`, which the command line
prints as one line before exiting with code 2. A transient one is retried with the
`RECOVERY` back-off, one warning line per attempt (the traceback only at debug level),
until it passes or the process is stopped; `on_waiting` hears the reason (None once
ready), for the api's `/ready`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import aio_pika
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tickwork_shared.bus.topology import declare_topology
from tickwork_shared.bus.urls import split_amqp_urls
from tickwork_shared.db.engine import create_engine
from tickwork_shared.errors import ConfigurationError, TransientError
from tickwork_shared.resilience import retry_while_transient
from tickwork_shared.schema_versions import known_revisions
from tickwork_shared.settings import Settings
from tickwork_shared.startup_rules import (
    SchemaMismatch,
    Verdict,
    classify_bus_error,
    classify_database_error,
    schema_problem,
)

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 10.0


class StartupFailed(ConfigurationError):
    """A start-up check failed in a way waiting cannot fix; the message says what to do."""


async def schema_revision(connection: AsyncConnection) -> str | None:
    """The Alembic revision the database is at; None without an `alembic_version` table."""
    has_table = await connection.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
    if not has_table:
        return None
    revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    return None if revision is None else str(revision)


async def check_database(settings: Settings) -> None:
    """Connect, and compare the schema's revision with this code's migration head."""
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), engine.connect() as connection:
            current = await schema_revision(connection)
    finally:
        await engine.dispose()
    heads, known = known_revisions()
    problem = schema_problem(current, heads, known)
    if problem is not None:
        raise SchemaMismatch(problem)


_AIORMQ_CONNECTION_LOGGER = "aiormq.connection"


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence logger `name` (aiormq logs every failed connect as an error) for the block."""
    target = logging.getLogger(name)
    level = target.level
    target.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        target.setLevel(level)


async def connect_broker(settings: Settings, name: str) -> aio_pika.abc.AbstractConnection:
    """A plain connection to the first broker of `TICKWORK_AMQP_URL` that answers (it may
    name every node of a cluster); the last broker's error when none does."""
    urls = split_amqp_urls(settings.amqp_url)
    for position, url in enumerate(urls):
        try:
            with _quiet(_AIORMQ_CONNECTION_LOGGER):  # the failure is classified and logged once
                return await aio_pika.connect(
                    url, timeout=CHECK_TIMEOUT_SECONDS, client_properties={"connection_name": name}
                )
        except Exception:
            if position == len(urls) - 1:
                raise
    raise AssertionError("split_amqp_urls never returns an empty list")


async def check_bus(settings: Settings) -> None:
    """Log in to the virtual host and declare the topology (idempotent), then leave."""
    connection = await connect_broker(settings, f"tickwork {settings.instance_id} start-up")
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            channel = await connection.channel()
            await declare_topology(channel)
    finally:
        await connection.close()


Check = tuple[Callable[[Settings], Awaitable[None]], Callable[[BaseException], Verdict]]
DATABASE_CHECK: Check = (check_database, classify_database_error)
BUS_CHECK: Check = (check_bus, classify_bus_error)


class _NotReady(TransientError):
    """Some check failed in a way that passes on its own; the message says why."""


async def wait_until_ready(
    settings: Settings,
    *,
    bus: bool = True,
    on_waiting: Callable[[str | None], None] | None = None,
) -> None:
    """Run the checks until they pass (retried with the `RECOVERY` back-off); raise
    `StartupFailed` on a permanent failure."""
    checks = [DATABASE_CHECK, BUS_CHECK] if bus else [DATABASE_CHECK]
    attempts = 0

    async def attempt() -> None:
        nonlocal attempts
        attempts += 1
        waiting: list[str] = []
        for check, classify in checks:
            try:
                await check(settings)
            except Exception as error:
                verdict = classify(error)
                logger.debug("start-up check failed: %s", verdict.reason, exc_info=error)
                if verdict.permanent:
                    raise StartupFailed(verdict.reason) from None
                waiting.append(verdict.reason)
        if waiting:
            raise _NotReady("; ".join(waiting))

    def on_retry(attempt: int, error: BaseException, delay: float) -> None:
        if on_waiting is not None:
            on_waiting(str(error))
        logger.warning(
            "start-up attempt %d: %s; next try in %.1f s",
            attempt,
            error,
            delay,
            extra={"action": "startup_waiting", "attempt": attempt, "next_try_seconds": delay},
        )

    await retry_while_transient(
        attempt, is_transient=lambda error: isinstance(error, _NotReady), on_retry=on_retry
    )
    if attempts > 1:
        logger.info(
            "start-up checks passed (attempt %d)",
            attempts,
            extra={"action": "startup_ready", "attempt": attempts},
        )
    if on_waiting is not None:
        on_waiting(None)
