"""Notification channels, a job's notify rules, and notifications with their delivery."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator
from tickwork_shared.camel import CamelModel, UtcDatetime
from tickwork_shared.notify import parse_rule_entry
from tickwork_shared.secret_refs import REFERENCE_KEY, is_reference

ChannelName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
]


class ChannelIn(CamelModel):
    """A channel as an admin defines it (POST, and PUT to replace it)."""

    model_config = ConfigDict(extra="forbid")

    name: ChannelName
    kind: Literal["webhook", "slack", "email"]
    url: Url | None = Field(default=None, description="webhook and slack: http(s) URL")
    secret: dict[str, Any] | None = Field(
        default=None,
        description='webhook: HMAC-SHA256 key as a secret reference `{"$secret": "NAME"}`; '
        "the body is signed in `X-Tickwork-Signature: sha256=<hex>`",
    )
    to: list[Email] | None = Field(default=None, max_length=50, description="email: addresses")

    @field_validator("url")
    @classmethod
    def _http_only(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError("only http and https URLs")
        return value

    @field_validator("secret")
    @classmethod
    def _reference(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not is_reference(value):
            raise ValueError(
                f'give a secret reference {{"{REFERENCE_KEY}": "NAME"}} (letters, digits, _ . -), '
                "never the secret itself"
            )
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> ChannelIn:
        if self.kind in ("webhook", "slack") and self.url is None:
            raise ValueError(f"a {self.kind} channel needs url")
        if self.kind == "email" and not self.to:
            raise ValueError("an email channel needs to (one address or more)")
        if self.kind != "webhook" and self.secret is not None:
            raise ValueError("only a webhook channel takes secret")
        return self

    def config(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"name", "kind"}, exclude_none=True)


class ChannelPublic(CamelModel):
    id: int
    name: str
    kind: str
    url: str | None = None
    secret: dict[str, Any] | None = Field(default=None, description="the reference, never a value")
    to: list[str] | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


RuleEntry = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class NotifyRule(CamelModel):
    model_config = ConfigDict(extra="forbid")

    channel: ChannelName = Field(description="a channel's name")
    on: list[RuleEntry] = Field(
        min_length=1,
        max_length=10,
        description="failed, timed_out (no retry follows), skipped or skipped:<reason>, "
        "stale (per staleAfterSeconds, once per period), recovered",
    )

    @field_validator("on")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_rule_entry(entry)  # raises ValueError naming the entry
        return value


class JobNotify(CamelModel):
    """A job's notify rules (PUT replaces them all; `[]` removes them)."""

    model_config = ConfigDict(extra="forbid")

    rules: list[NotifyRule] = Field(max_length=20)


class NotificationPublic(CamelModel):
    id: int
    job_id: int
    channel: str
    execution_id: str | None = None
    condition: str
    status: str = Field(description="pending, delivered or failed (gave up)")
    attempts: int
    next_attempt_at: UtcDatetime | None = None
    last_error: str | None = None
    created_at: UtcDatetime
    delivered_at: UtcDatetime | None = None
