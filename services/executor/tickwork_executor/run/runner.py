"""Calling one task function: arguments checked, timeout applied, sync code kept off the loop.

Async functions run on the event loop and are cancelled on timeout or interrupt. Sync
functions run in the executor's own thread pool (sized to its concurrency); Python cannot
stop a thread, so on timeout or interrupt the run's outcome is decided without it and the
thread's future is handed back, to keep its slot taken until it really returns.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.secret_refs import SecretNotFound, resolve
from tickwork_shared.secret_store import SecretStore

from tickwork_executor.errors import InvalidArguments, SecretMissing, TaskFailed
from tickwork_executor.record.outcomes import Outcome, bound_result, error_text, hide, scrubbed
from tickwork_executor.tasks import RunContext, TaskFunctionSpec

logger = logging.getLogger(__name__)


def create_pool(concurrency: int) -> ThreadPoolExecutor:
    """The dedicated pool of sync task functions: one thread per concurrency slot."""
    return ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="tickwork-task")


async def execute(
    spec: TaskFunctionSpec,
    args: Mapping[str, Any],
    context: RunContext,
    *,
    timeout_seconds: float,
    pool: ThreadPoolExecutor,
    max_result_bytes: int,
    threads: list[asyncio.Future[Any]],
    secrets: SecretStore | None = None,
) -> Outcome:
    """Run `spec` once and say how it ended; raises only `CancelledError` (interrupted).

    A sync call's thread future is appended to `threads` as soon as it is submitted.
    A timeout of 0 or less means none. Secret references in `args` are resolved from
    `secrets` first (a missing one fails the run: `SecretMissing`), and the values
    resolved never reach the recorded error or result (they read `***`).
    """
    log_fields = {"execution_id": context.execution_id, "job_id": context.job_id}
    store = secrets or SecretStore(None)
    used: list[str] = []

    def lookup(name: str) -> str | None:
        value = store.get(name)
        if value:
            used.append(value)
        return value

    try:
        kwargs = spec.bind(resolve(args, lookup), context)
    except SecretNotFound as missing:
        error = SecretMissing(
            f"secret {missing.name!r} not found (looked for {store.where(missing.name)})"
        )
        logger.warning("%s", error, extra={"action": "secret_missing", **log_fields})
        return Outcome(ExecutionStatus.FAILED, error=error_text(error))
    except InvalidArguments as error:
        logger.warning("%s", error, extra={"action": "task_invalid_args", **log_fields})
        return scrubbed(Outcome(ExecutionStatus.FAILED, error=error_text(error)), used)
    try:
        value = await _call(spec, kwargs, timeout_seconds, pool, threads)
    except _TimedOut:
        logger.warning(
            "task %s timed out after %s s",
            spec.name,
            timeout_seconds,
            extra={"action": "task_timed_out", **log_fields},
        )
        message = f"TimeoutError: the task did not finish within {timeout_seconds:g} s"
        return Outcome(ExecutionStatus.TIMED_OUT, error=message)
    except (Exception, SystemExit) as error:
        return scrubbed(_failed(spec, error, log_fields, used), used)
    result = bound_result(value, max_result_bytes)
    return scrubbed(Outcome(ExecutionStatus.SUCCEEDED, result=result), used)


class _TimedOut(Exception):
    """The run's timeout ran out (unlike a `TimeoutError` the task raised itself)."""


async def _call(
    spec: TaskFunctionSpec,
    kwargs: dict[str, Any],
    timeout_seconds: float,
    pool: ThreadPoolExecutor,
    threads: list[asyncio.Future[Any]],
) -> Any:
    """What the task returns; raises what it raises, or `_TimedOut` once `timeout_seconds`
    have passed (0 or less: no timeout)."""
    limit = timeout_seconds if timeout_seconds > 0 else None
    try:
        async with asyncio.timeout(limit) as deadline:
            if spec.is_async:
                return await spec.func(**kwargs)
            return await _in_thread(pool, spec, kwargs, threads)
    except TimeoutError:
        if deadline.expired():
            raise _TimedOut from None
        raise


def _failed(
    spec: TaskFunctionSpec, error: BaseException, log_fields: dict[str, Any], used: list[str]
) -> Outcome:
    # The traceback goes to the log, not the execution; `TaskFailed` is a task saying
    # "failed, because <message>", where a traceback adds nothing. A message that
    # carries a resolved secret is logged masked, and without its traceback (which
    # would repeat it).
    text = error_text(error)
    shown = hide(text, used)
    logger.warning(
        "task %s failed: %s",
        spec.name,
        shown,
        exc_info=None if isinstance(error, TaskFailed) or shown != text else error,
        extra={"action": "task_failed", **log_fields},
    )
    return Outcome(ExecutionStatus.FAILED, error=error_text(error))


async def _in_thread(
    pool: ThreadPoolExecutor,
    spec: TaskFunctionSpec,
    kwargs: dict[str, Any],
    threads: list[asyncio.Future[Any]],
) -> Any:
    # The call sees the caller's context (trace, log fields). The future is shielded:
    # cancelling the wait must not pretend the thread stopped.
    context = contextvars.copy_context()
    call: Callable[[], Any] = functools.partial(context.run, spec.func, **kwargs)
    future = asyncio.wrap_future(pool.submit(call))
    future.add_done_callback(_retrieve)
    threads.append(future)
    return await asyncio.shield(future)


def _retrieve(future: asyncio.Future[Any]) -> None:
    # The outcome of a thread that outlived its run is discarded; read it so asyncio
    # does not log "exception was never retrieved".
    if not future.cancelled():
        future.exception()
