"""Pure decisions about how a run ends: its outcome, its stored result, what to write.

No I/O and no clock here; the supervisor and the records module act on these answers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum, auto
from typing import Any

import pydantic_core
from tickwork_shared.enums import ExecutionStatus
from tickwork_shared.masking import MASK, strip_credentials_deep, strip_url_credentials

MIN_SCRUBBED_CHARS = 4
"""Shorter secret values are not searched for in outcomes (they would mask noise)."""
MAX_ERROR_CHARS = 4000
"""An execution's `error` is a one-line summary; the traceback goes to the log."""


@dataclass(frozen=True)
class Outcome:
    """How a task ended, as it will be recorded."""

    status: ExecutionStatus
    result: Any = None
    error: str | None = None

    @property
    def retry_handled(self) -> bool:
        """False for `failed` and `timed_out`: the planner still has to decide on a retry."""
        return self.status not in (ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT)


# The two enums below are decisions inside one executor, never stored or shown: their
# members are compared by identity, so their values mean nothing (`auto()`).


class StopReason(Enum):
    """Why the executor interrupted a running task."""

    CANCEL_REQUESTED = auto()
    """`cancel_requested_at` was set (through the api): record `cancelled`."""
    LEASE_LOST = auto()
    """Another process owns the run now (or may): write nothing at all."""
    SHUTDOWN = auto()
    """The executor is stopping: give the lease up so the reaper retries the run."""


class Finish(Enum):
    RECORD = auto()
    GIVE_UP = auto()
    NOTHING = auto()


def decide_finish(
    stop: StopReason | None, outcome: Outcome | None
) -> tuple[Finish, Outcome | None]:
    """What to write once a task is over: `outcome` is None when the task was interrupted.

    A task that finished before an interrupt took effect keeps its outcome, except after
    a lost lease: whoever owns the run now decides, and the fenced write would fail anyway.
    A task interrupted for no recorded reason (its supervisor was cancelled) is given up,
    which the reaper turns into a retry: never a silent loss.
    """
    if stop is StopReason.LEASE_LOST:
        return Finish.NOTHING, None
    if outcome is not None:
        return Finish.RECORD, outcome
    if stop is StopReason.CANCEL_REQUESTED:
        return Finish.RECORD, Outcome(ExecutionStatus.CANCELLED)
    return Finish.GIVE_UP, None


def error_text(error: BaseException) -> str:
    """`Type: message` (just `Type` for an empty message), cut to `MAX_ERROR_CHARS`."""
    message = str(error).strip()
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return text


def _stored_size(value: Any) -> int:
    # What the JSON column stores: SQLAlchemy serialises with `json.dumps` defaults.
    return len(json.dumps(value).encode())


def bound_result(value: Any, max_bytes: int) -> Any:
    """The JSON form of a task's return value, bounded to `max_bytes` once stored.

    Values JSON cannot hold are stored as their `str()`. A result larger than
    `max_bytes` is replaced by a note that says so and keeps the start of its JSON text:
    `{"truncated": true, "originalBytes": <size>, "preview": "<JSON text, cut to fit>"}`.
    """
    text = pydantic_core.to_json(value, fallback=str).decode()
    jsonable = json.loads(text)
    size = _stored_size(jsonable)
    if size <= max_bytes:
        return jsonable
    # Every character of the preview costs at least one byte: cutting as many characters
    # as there are bytes too many always fits.
    preview = json.dumps(jsonable)[:max_bytes]
    note: dict[str, Any] = {"truncated": True, "originalBytes": size, "preview": preview}
    while (overflow := _stored_size(note) - max_bytes) > 0 and note["preview"]:
        note["preview"] = note["preview"][: max(len(note["preview"]) - overflow, 0)]
    return note


def scrubbed(outcome: Outcome, secrets: Sequence[str] = ()) -> Outcome:
    """`outcome` as it may be recorded: the `user:password@` of URLs removed from its
    error and result, and every resolved secret value (`secrets`) in them replaced by
    `***`, so a task that echoes its arguments does not leak them."""
    values = sorted({v for v in secrets if len(v) >= MIN_SCRUBBED_CHARS}, key=len, reverse=True)
    error = outcome.error
    if error is not None:
        error = hide(error, values)
    result = outcome.result
    if result is not None:
        result = strip_credentials_deep(result)
        text = json.dumps(result)
        hidden = hide(text, [json.dumps(v)[1:-1] for v in values])
        if hidden != text:
            try:
                result = json.loads(hidden)
            except ValueError:
                result = hidden
    if (error, result) == (outcome.error, outcome.result):
        return outcome
    return replace(outcome, error=error, result=result)


def hide(text: str, values: Sequence[str]) -> str:
    """`text` with URL credentials removed and each of `values` replaced by `***`."""
    for value in values:
        text = text.replace(value, MASK)
    return strip_url_credentials(text)
