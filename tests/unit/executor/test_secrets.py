"""An executor resolves secret references from files or the environment at run time."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tickwork_executor.errors import TaskFailed
from tickwork_executor.record.outcomes import Outcome
from tickwork_executor.run.runner import create_pool, execute
from tickwork_executor.tasks import RunContext, spec_of, task_function
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.secret_store import SecretStore

CONTEXT = RunContext("e-1", 1, datetime(2026, 5, 1, tzinfo=UTC), 1, "1:m:x")


@task_function("t.echo_secret")
async def echo(headers: dict[str, str]) -> dict[str, Any]:
    return {"sent": headers, "length": len(headers["Authorization"])}


@task_function("t.leak")
async def leak(token: str) -> None:
    raise TaskFailed(f"the server refused token {token} at https://bot:{token}@api.example/")


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    pool = create_pool(1)
    yield pool
    pool.shutdown(wait=True)


async def _run(
    function: Any, args: dict[str, Any], pool: ThreadPoolExecutor, secrets: SecretStore
) -> Outcome:
    return await execute(
        spec_of(function),
        args,
        CONTEXT,
        timeout_seconds=5,
        pool=pool,
        max_result_bytes=4096,
        threads=[],
        secrets=secrets,
    )


async def _echo_authorization(secret: str, folder: Path, pool: ThreadPoolExecutor) -> Outcome:
    """`echo` run with an Authorization header that refers to `secret`, a file in `folder`."""
    store = SecretStore(str(folder), {})
    return await _run(echo, {"headers": {"Authorization": {"$secret": secret}}}, pool, store)


def test_a_file_wins_over_the_environment_and_loses_one_newline(tmp_path: Path) -> None:
    (tmp_path / "hook-token").write_text("from-file\n\n")
    store = SecretStore(str(tmp_path), {"TICKWORK_SECRET_HOOK_TOKEN": "from-env"})
    assert store.get("hook-token") == "from-file\n"
    (tmp_path / "hook-token").unlink()
    assert store.get("hook-token") == "from-env"
    assert store.get("other") is None


def test_a_name_never_reads_outside_the_directory(tmp_path: Path) -> None:
    (tmp_path / "outside").write_text("nope")
    inner = tmp_path / "secrets"
    inner.mkdir()
    store = SecretStore(str(inner), {})
    assert store.get("../outside") is None
    assert store.get("..") is None


async def test_a_secret_is_resolved_and_never_recorded(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    (tmp_path / "hook-token").write_text("Bearer s3cr3t-value\n")
    outcome = await _echo_authorization("hook-token", tmp_path, pool)
    assert outcome.status is ExecutionStatus.SUCCEEDED
    # The task saw the value (its length), the recorded result does not show it.
    assert outcome.result == {"sent": {"Authorization": "***"}, "length": 19}


async def test_a_secret_echoed_in_an_error_is_masked(
    pool: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = await _run(
        leak,
        {"token": {"$secret": "api"}},
        pool,
        SecretStore(None, {"TICKWORK_SECRET_API": "tok-123456"}),
    )
    assert outcome.status is ExecutionStatus.FAILED
    assert outcome.error is not None
    assert "tok-123456" not in outcome.error
    assert "bot:" not in outcome.error  # user:password@ removed from URLs
    assert outcome.error.startswith("TaskFailed: the server refused token ***")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "task t.leak failed" in logged
    assert "tok-123456" not in logged


async def test_a_missing_secret_fails_the_run_with_secret_missing(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    outcome = await _echo_authorization("absent-one", tmp_path, pool)
    assert outcome.status is ExecutionStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.startswith("SecretMissing: secret 'absent-one' not found")
    assert "TICKWORK_SECRET_ABSENT_ONE" in outcome.error
