"""The outbox relay: publishes queued rows whose publish time has come, whoever wrote them.

That covers retries and jittered runs (written for later), queued overlaps an executor put
back with a later `due_at`, and rows a dead planner or api committed but never published
(their claim lapses after the relay delay). It runs apart from the planning loop: every
publish is bounded by the bus's timeout, so a broker outage delays publishing, never
planning. A row published twice is absorbed by the executor's claim.
"""

from __future__ import annotations

from dataclasses import dataclass

from tickwork_shared.bus.abc import Bus
from tickwork_shared.db.engine import SessionFactory
from tickwork_shared.outbox import claim_due_rows, publish_and_mark


@dataclass(frozen=True)
class RelayResult:
    claimed: int
    published: int


async def relay_once(
    bus: Bus,
    sessions: SessionFactory,
    *,
    claim: str,
    batch_size: int,
    relay_delay_seconds: float,
) -> RelayResult:
    """Claim one batch of due rows (one short transaction), publish it, mark it published.

    The claim pushes each row's `next_publish_at` out by the relay delay before anything
    is published, so if this planner dies mid-publish another relay takes the rows over.
    """
    refs = await claim_due_rows(
        sessions, claim=claim, limit=batch_size, relay_delay_seconds=relay_delay_seconds
    )
    if not refs:
        return RelayResult(0, 0)
    published = await publish_and_mark(bus, sessions, refs, claim=claim)
    return RelayResult(len(refs), published)
