"""Transactions, and the one place where transient database failures are retried.

Deadlocks (1213) and lock-wait timeouts (1205) roll the whole transaction back, so the
unit of work is retried as a whole; so is a connection lost before commit. Every unit of
work given here must therefore be safe to run again from the start.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession

from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.errors import TransientError
from tickwork_shared.resilience import TRANSACTION, retry_while_transient

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEADLOCK_CODES = frozenset({1213, 1205})
# Server gone away / lost connection / can't connect / server shutting down.
CONNECTION_CODES = frozenset({2002, 2003, 2006, 2013, 2055, 1053, 1927})


class DatabaseUnavailable(TransientError):
    """The database did not answer after retries; the caller should back off (api: 503)."""


def _error_code(error: DBAPIError) -> int | None:
    args = getattr(error.orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def is_conflict(error: BaseException) -> bool:
    """A deadlock or lock-wait timeout (or SQLite's busy writer): retry the transaction."""
    if not isinstance(error, OperationalError):
        return False
    if _error_code(error) in DEADLOCK_CODES:
        return True
    return "database is locked" in str(error.orig)


def _socket_gone_while_connecting(error: BaseException) -> bool:
    """asyncmy, on uvloop, raises a bare `RuntimeError` when the server resets the
    connection before the driver could set its socket options (a database restarting, a
    proxy without a backend); it is a lost connection like any other."""
    return isinstance(error, RuntimeError) and "does not expose socket" in str(error)


def is_disconnect(error: BaseException) -> bool:
    if isinstance(error, PoolTimeoutError | ConnectionError | OSError):
        return True
    if _socket_gone_while_connecting(error):
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or _error_code(error) in CONNECTION_CODES
    return False


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TransientError) or is_conflict(error) or is_disconnect(error)


async def run_in_transaction(
    sessions: SessionFactory,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    attempts: int = 5,
    what: str = "transaction",
) -> T:
    """Run `work` in one transaction, committing on success.

    Conflicts and lost connections are retried with the `TRANSACTION` back-off; after
    `attempts`, a lost connection raises `DatabaseUnavailable` and a conflict re-raises.
    Other errors propagate at once (the transaction is rolled back).
    """

    async def once() -> T:
        async with sessions() as session, session.begin():
            return await work(session)

    def on_retry(attempt: int, error: BaseException, _delay: float) -> None:
        logger.warning(
            "retrying %s after a transient database error",
            what,
            extra={"action": "db_retry", "attempt": attempt, "error": type(error).__name__},
        )

    try:
        return await retry_while_transient(
            once,
            is_transient=_worth_retrying,
            policy=TRANSACTION,
            attempts=attempts,
            on_retry=on_retry,
        )
    except Exception as error:
        if is_disconnect(error):  # retried `attempts` times: the database is away
            raise DatabaseUnavailable(f"database unavailable during {what}") from error
        raise


def _worth_retrying(error: BaseException) -> bool:
    return is_conflict(error) or is_disconnect(error)
