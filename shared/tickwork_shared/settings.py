"""Configuration from `TICKWORK_*` environment variables (pydantic-settings).

Settings are built in each command's `main` and passed down explicitly; nothing reads the
environment at import time, so tests construct `Settings(...)` with the values they want.
"""

from __future__ import annotations

import os
import socket
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tickwork_shared.bus.urls import split_amqp_urls
from tickwork_shared.pools import parse_pools
from tickwork_shared.setting_errors import SettingsInvalid, settings_problems

DEFAULT_DATABASE_URL = "mysql+asyncmy://root@127.0.0.1:3306/tickwork"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def default_instance_id() -> str:
    """host:pid — unique among live processes, readable in history and logs."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Settings(BaseSettings):
    """Everything an operator can set. Durations are seconds."""

    # hide_input_in_errors: a refused URL setting must not print its password.
    model_config = SettingsConfigDict(
        env_prefix="TICKWORK_", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    amqp_url: str = DEFAULT_AMQP_URL
    """One URL per RabbitMQ node, comma separated (`tickwork_shared.bus.urls`)."""
    database_pool_size: int = Field(default=10, ge=1)
    database_idle_transaction_timeout_seconds: int = Field(default=30, ge=0)
    """MariaDB ends a session whose transaction sat idle this long (0: never), so a process
    frozen mid-transaction (SIGSTOP, a VM pause) does not hold its row locks, and with
    them the reaper and the planner, until it wakes up. Every unit of work is retried
    whole after a lost connection, so a transaction ended this way is simply run again."""

    api_host: str = "0.0.0.0"  # noqa: S104 - a service listens on all interfaces in its container
    api_port: int = Field(default=8000, ge=1, le=65535)

    # API edge: what one caller may cost the api (each api process counts on its own)
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    """Request bodies over this many bytes are refused (413) before they are read."""
    api_rate_limit: float | None = Field(default=None, gt=0)
    """Requests per second per API key, bursts up to twice that (429 past it); None: none."""
    api_auth_failure_rate: float = Field(default=1.0, gt=0)
    """Failed authentications per second one client address may make after a burst of 20
    (429 past it)."""
    api_key_cache_seconds: float = Field(default=5.0, ge=0)
    """An api process trusts a key it found valid this long (0: looks it up every request);
    a revocation through that process applies at once, one made elsewhere within this."""
    api_count_cache_seconds: float = Field(default=5.0, ge=0)
    """The `total` of a list page with 1,000 or more matches may be this old (0: counted
    every request)."""

    executor_concurrency: int = Field(default=128, ge=1, le=1024)
    """Runs one executor handles at once; its prefetch is half of it. 128 because tasks are
    mostly waiting on I/O and bigger claim and record batches cost less per run (2
    executors drained 714 no-op runs/s at 8 slots, 879 at 32, 1,077 at 128 on 2 cores)."""
    task_modules: Annotated[list[str], NoDecode] = Field(default_factory=list)
    lease_seconds: float = Field(default=30.0, gt=0)
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    overlap_requeue_seconds: float = Field(default=1.0, gt=0)
    max_result_bytes: int = Field(default=64 * 1024, ge=256)
    task_function_ttl_seconds: float = Field(default=600.0, gt=0)

    planner_batch_size: int = Field(default=500, ge=1)
    planner_max_sleep_seconds: float = Field(default=1.0, gt=0)
    plan_ahead_seconds: float = Field(default=0.0, ge=0, le=60)
    """Runs are planned and published this long before they are due; executors start them
    at their due time. 0, the default: plan when due (see deploy/README.md: off until the
    full drills pass with it, tests/drills/README.md)."""
    pool_backlog_per_executor: int = Field(default=256, ge=0)
    """Runs waiting in a pool's queue, per executor consuming it, at which planners stop
    planning that pool's jobs until it drains (past capacity: fire times passed meanwhile
    follow their misfire policy). 256, the default, is about half a second of an
    executor's drain here: past capacity the queue stays that short instead of growing
    for as long as the load lasts (bench/README.md, "Past capacity"). 0: never."""
    catchup_chunk_size: int = Field(default=1000, ge=1)
    relay_delay_seconds: float = Field(default=5.0, gt=0)
    relay_interval_seconds: float = Field(default=0.5, gt=0)
    relay_batch_size: int = Field(default=500, ge=1)
    reaper_interval_seconds: float = Field(default=5.0, gt=0)
    unclaimed_republish_seconds: float = Field(default=60.0, gt=0)
    """A published run still queued this long after its due time, while its pool's queue
    has nothing waiting, was lost by the broker: planners publish it again (checked every
    quarter of this, at least every reaper interval; `tickwork_planner.unclaimed`)."""
    retry_backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    execution_retention_days: float = Field(default=30.0, gt=0)
    audit_retention_days: float = Field(default=90.0, gt=0)
    housekeeping_interval_seconds: float = Field(default=300.0, gt=0)
    housekeeping_chunk_size: int = Field(default=1000, ge=1)

    # Notifications (issue 22): delivered by the planners through the notification outbox.
    notify_interval_seconds: float = Field(default=1.0, gt=0)
    notify_max_attempts: int = Field(default=10, ge=1)
    notify_backoff_seconds: float = Field(default=5.0, gt=0)
    notify_backoff_cap_seconds: float = Field(default=600.0, gt=0)
    notify_timeout_seconds: float = Field(default=10.0, gt=0)
    stale_check_interval_seconds: float = Field(default=30.0, gt=0)
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "tickwork@localhost"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password_secret: str | None = None
    """The name of the secret holding the SMTP password (see `secrets_dir`). Webhooks follow
    `http_egress`/`http_allow` and resolve their secrets from `secrets_dir` like executors."""

    publish_timeout_seconds: float = Field(default=5.0, gt=0)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    log_format: Literal["json", "human"] = "json"
    log_level: str = "INFO"
    instance_id: str = Field(default_factory=default_instance_id)

    # Trust boundary (issue 14): what a job's arguments may reach, read and start.
    http_egress: Literal["default", "allowlist"] = "default"
    """`default`: public addresses only, special ones (loopback, private, link-local, …)
    when `http_allow` lists them; `allowlist`: only what `http_allow` lists."""
    http_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Host names, `*.suffix` patterns and CIDRs `http.request` may reach (comma-separated)."""
    http_max_response_bytes: int = Field(default=1024 * 1024, ge=1)
    amqp_publish_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Exchanges `amqp.publish` may use although they are `""`, `amq.*` or `tickwork.*`."""
    amqp_publish_url: str | None = None
    """When set, user publishes (`amqp.publish`) go over their own connection with these
    credentials (a RabbitMQ user that may only write to the users' exchanges)."""
    secrets_dir: str | None = None
    """Where executors (and planners, for notification secrets) read `{"$secret": NAME}`
    from (one file per secret)."""
    max_queued_runs_per_job: int = Field(default=100, ge=1)

    @field_validator("http_allow", "amqp_publish_allow", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # Executor pools: the pools an executor serves, and how its liveness is told.
    executor_pools: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["default"])
    """`TICKWORK_EXECUTOR_POOLS`: comma-separated pool names whose run queues it consumes."""
    executor_heartbeat_seconds: float = Field(default=10.0, gt=0)
    """How often an executor refreshes its row in `executors` (`GET /executors`)."""
    executor_dead_after_seconds: float = Field(default=30.0, gt=0)
    """An executor not heard from for this long is shown `isAlive: false` (3 heartbeats)."""
    executor_forget_seconds: float = Field(default=7 * 86_400.0, gt=0)
    """Rows of executors not heard from for this long are deleted by live executors."""

    @field_validator("executor_pools", mode="before")
    @classmethod
    def _split_pools(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_pools(value)
        return value

    @field_validator("executor_pools", mode="after")
    @classmethod
    def _check_pools(cls, value: list[str]) -> list[str]:
        pools = parse_pools(",".join(value))
        if not pools:
            raise ValueError("at least one pool")
        return pools

    @field_validator("task_modules", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        # Operators write `TICKWORK_TASK_MODULES=a.tasks,b.tasks`, not JSON.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("amqp_url")
    @classmethod
    def _check_amqp_urls(cls, value: str) -> str:
        split_amqp_urls(value)  # a clear error at start, not at the first connect
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: Any) -> Settings:
    """`Settings` from the environment (`overrides` on top); a value a setting cannot take
    raises `SettingsInvalid`, one line per variable, instead of pydantic's report."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsInvalid(settings_problems(error, Settings)) from None
