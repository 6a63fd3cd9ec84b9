"""Notification rules as pure decisions: which change calls for which notification, when a
job is stale, how a webhook body is signed, how long a failed delivery waits.

No I/O and no clock: the planner (which derives, detects and delivers) and the api (which
validates rules) act on these answers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Condition(StrEnum):
    """What a job's `notify` rule may ask to be told about."""

    FAILED = "failed"
    """A run failed and no retry follows (its last attempt, or the job is gone)."""
    TIMED_OUT = "timed_out"
    """A run timed out and no retry follows."""
    SKIPPED = "skipped"
    """A run was skipped; `skipped:<reason>` narrows it (misfire, overlap, disabled, …)."""
    STALE = "stale"
    """No successful run for `staleAfterSeconds`: once per stale period."""
    RECOVERED = "recovered"
    """A run succeeded after the job's previous fire time ended failed or timed out."""


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    """Given up after the last attempt."""


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    EMAIL = "email"


SIGNATURE_HEADER = "X-Tickwork-Signature"
"""`sha256=<hex HMAC-SHA256 of the raw body with the channel's secret>`."""


def parse_rule_entry(entry: str) -> tuple[Condition, str | None]:
    """`failed` → (FAILED, None); `skipped:overlap` → (SKIPPED, "overlap").
    Raises ValueError with a message for the user."""
    name, _, qualifier = entry.partition(":")
    try:
        condition = Condition(name)
    except ValueError:
        known = ", ".join(c.value for c in Condition)
        raise ValueError(f"unknown condition {entry!r} (known: {known})") from None
    if qualifier and condition is not Condition.SKIPPED:
        raise ValueError(f"only skipped takes a reason ({entry!r})")
    return condition, qualifier or None


def wants(rule_on: Iterable[str], condition: Condition, reason: str | None = None) -> bool:
    """The rule asks for `condition` (for skips: any reason, or this `reason`)."""
    for entry in rule_on:
        try:
            wanted, qualifier = parse_rule_entry(entry)
        except ValueError:
            continue
        if wanted is condition and (qualifier is None or qualifier == reason):
            return True
    return False


def final_failure(
    status: str, attempt: int, *, max_retries: int, job_active: bool
) -> Condition | None:
    """`failed`/`timed_out` when no retry follows (the planner's retry rule), else None."""
    if status not in (Condition.FAILED.value, Condition.TIMED_OUT.value):
        return None
    retried = job_active and attempt <= max_retries
    return None if retried else Condition(status)


def stale_basis(
    now: datetime,
    *,
    last_success_at: datetime | None,
    created_at: datetime,
    stale_after_seconds: int | None,
    notified_for: datetime | None,
) -> datetime | None:
    """The instant the job has been stale since it last succeeded (or was created), when it
    is stale and not yet notified for that instant; else None. A new success moves the
    basis, so the next stale period is notified again."""
    if stale_after_seconds is None:
        return None
    basis = last_success_at or created_at
    if now - basis < timedelta(seconds=stale_after_seconds):
        return None
    return None if notified_for == basis else basis


def signature(secret: str, body: bytes) -> str:
    """The webhook signature header's value."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def retry_delay(attempts: int, *, base_seconds: float, cap_seconds: float) -> float:
    """Seconds before attempt `attempts + 1`: doubling from `base_seconds`, capped."""
    return float(min(cap_seconds, base_seconds * 2 ** max(attempts - 1, 0)))


def summary(condition: Condition, job_name: str, execution: Mapping[str, Any] | None) -> str:
    """One line for people (Slack text, email subject)."""
    if condition is Condition.STALE:
        return f"tickwork: job {job_name!r} is stale (no successful run recently)"
    if condition is Condition.RECOVERED:
        return f"tickwork: job {job_name!r} recovered (a run succeeded after a failure)"
    detail = ""
    if execution is not None:
        attempt = execution.get("attempt")
        why = execution.get("error") or execution.get("reason") or ""
        detail = f" (attempt {attempt}{': ' + str(why)[:300] if why else ''})"
    verb = {"failed": "failed", "timed_out": "timed out", "skipped": "skipped a run"}
    return f"tickwork: job {job_name!r} {verb[condition.value]}{detail}"
