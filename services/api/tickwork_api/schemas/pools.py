"""Executors and pools on the wire (`GET /executors`, `GET /pools`)."""

from __future__ import annotations

from pydantic import Field
from tickwork_shared.camel import CamelModel, UtcDatetime


class ExecutorPublic(CamelModel):
    executor_id: str
    host_name: str
    pools: list[str]
    task_functions: list[str]
    concurrency: int
    in_flight: int = Field(description="runs holding a slot at its last heartbeat")
    started_at: UtcDatetime
    last_seen_at: UtcDatetime
    is_alive: bool = Field(
        description="heard from within TICKWORK_EXECUTOR_DEAD_AFTER_SECONDS (3 heartbeats)"
    )


class PoolPublic(CamelModel):
    name: str
    executors: int = Field(description="live executors serving the pool")
    capacity: int = Field(description="slots of its live executors")
    in_flight: int = Field(description="runs in the slots of its live executors")
    queued: int = Field(description="runs of the pool waiting in `queued`")
    oldest_queued_at: UtcDatetime | None = Field(
        default=None, description="when the oldest of them was queued"
    )
