"""Configuration from `TICKWORK_*` environment variables (pydantic-settings).

Settings are built in each command's `main` and passed down explicitly; nothing reads the
environment at import time, so tests construct `Settings(...)` with the values they want.
"""

from __future__ import annotations

import os
import socket
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "mysql+asyncmy://root@127.0.0.1:3306/tickwork"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def default_instance_id() -> str:
    """host:pid — unique among live processes, readable in history and logs."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Settings(BaseSettings):
    """Everything an operator can set. Durations are seconds."""

    model_config = SettingsConfigDict(env_prefix="TICKWORK_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    amqp_url: str = DEFAULT_AMQP_URL
    database_pool_size: int = Field(default=10, ge=1)
    database_idle_transaction_timeout_seconds: int = Field(default=30, ge=0)
    """MariaDB ends a session whose transaction sat idle this long (0: never), so a process
    frozen mid-transaction (SIGSTOP, a VM pause) does not hold its row locks, and with
    them the reaper and the planner, until it wakes up. Every unit of work is retried
    whole after a lost connection, so a transaction ended this way is simply run again."""

    api_host: str = "0.0.0.0"  # noqa: S104 - a service listens on all interfaces in its container
    api_port: int = Field(default=8000, ge=1, le=65535)

    executor_concurrency: int = Field(default=8, ge=1, le=1024)
    task_modules: Annotated[list[str], NoDecode] = Field(default_factory=list)
    lease_seconds: float = Field(default=30.0, gt=0)
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    overlap_requeue_seconds: float = Field(default=1.0, gt=0)
    max_result_bytes: int = Field(default=64 * 1024, ge=256)
    task_function_ttl_seconds: float = Field(default=600.0, gt=0)

    planner_batch_size: int = Field(default=500, ge=1)
    planner_max_sleep_seconds: float = Field(default=1.0, gt=0)
    catchup_chunk_size: int = Field(default=1000, ge=1)
    relay_delay_seconds: float = Field(default=5.0, gt=0)
    relay_interval_seconds: float = Field(default=0.5, gt=0)
    relay_batch_size: int = Field(default=500, ge=1)
    reaper_interval_seconds: float = Field(default=5.0, gt=0)
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
    """The name of the secret holding the SMTP password (see `secrets_dir`)."""
    secrets_dir: str | None = None
    """Secret references `{"$secret": "NAME"}` read `secrets_dir/NAME`, else the
    environment variable `TICKWORK_SECRET_NAME`."""
    http_allow: str = ""
    """Internal destinations outgoing HTTP may reach anyway: host names, `*.suffix`, CIDRs."""

    publish_timeout_seconds: float = Field(default=5.0, gt=0)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    log_format: Literal["json", "human"] = "json"
    log_level: str = "INFO"
    instance_id: str = Field(default_factory=default_instance_id)

    @field_validator("task_modules", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        # Operators write `TICKWORK_TASK_MODULES=a.tasks,b.tasks`, not JSON.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
