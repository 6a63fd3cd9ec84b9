"""What the database and broker checks share: how a check is handed to the doctor (which
skips it when a check it needs failed), the deadline each question gets, and addresses
shown without their passwords."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from sqlalchemy.engine import make_url

from tickwork.doctor.findings import Finding

CHECK_TIMEOUT_SECONDS = 10.0

T = TypeVar("T")
Check = Callable[[], Awaitable[Finding]]


class Run(Protocol):
    """Record the finding of `work`, the check named `check`, unless one of the checks it
    `needs` failed (then it is skipped)."""

    async def __call__(self, check: str, work: Check, *needs: str) -> None: ...


async def timed(work: Awaitable[T]) -> T:
    """`work`, given up after CHECK_TIMEOUT_SECONDS: a server that hangs fails its check
    instead of hanging the doctor."""
    async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
        return await work


def safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"
