"""Delivering one notification: a signed webhook, a Slack-compatible webhook, an email.

Webhooks follow `http.request`'s egress rule (`egress_rules`): the host is resolved and
every address checked before connecting; internal destinations need `TICKWORK_HTTP_ALLOW`.
Redirects are not followed. Email goes through the SMTP server of the settings (the
standard library, in a thread). Errors come back as one line for `lastError`; secrets are
never in it.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from tickwork_shared.egress_rules import Address, Allowance, egress_refusal, parse_addresses
from tickwork_shared.notify import SIGNATURE_HEADER, ChannelKind, signature
from tickwork_shared.secret_refs import SecretMissing, resolve_secret
from tickwork_shared.settings import Settings

from tickwork_planner.notifications import Due

Resolver = Callable[[str, int], Awaitable[Sequence[Address]]]
"""Host and port → the addresses a connection would use (tests inject one)."""

MAX_ERROR_CHARS = 500


async def system_resolver(host: str, port: int) -> Sequence[Address]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return parse_addresses(str(info[4][0]) for info in infos)


class NotificationSender:
    """Delivers notifications for one planner (one HTTP client, reused)."""

    def __init__(
        self,
        settings: Settings,
        *,
        resolver: Resolver = system_resolver,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._settings = settings
        self._allow = Allowance.parse(settings.http_allow)
        self._resolver = resolver
        self._environ = environ if environ is not None else os.environ
        self._client = httpx.AsyncClient(
            timeout=settings.notify_timeout_seconds, follow_redirects=False
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def deliver(self, due: Due) -> str | None:
        """None when delivered, else why not (one line)."""
        try:
            if due.channel_kind == ChannelKind.EMAIL.value:
                await self._email(due)
            else:
                await self._webhook(due)
        except Exception as error:  # every failure is an attempt to retry, named
            name = type(error).__name__
            text = str(error) if str(error).startswith(name) else f"{name}: {error}".strip()
            return text[:MAX_ERROR_CHARS]
        return None

    async def _webhook(self, due: Due) -> None:
        config = due.channel_config
        url = str(config["url"])
        await self._check_egress(url)
        if due.channel_kind == ChannelKind.SLACK.value:
            body = orjson.dumps({"text": due.payload.get("summary", "")})
            headers = {"Content-Type": "application/json"}
        else:
            body = orjson.dumps(due.payload)
            headers = {
                "Content-Type": "application/json",
                "X-Tickwork-Event": due.condition,
                "X-Tickwork-Delivery": str(due.id),
            }
            secret_ref = config.get("secret")
            if secret_ref is not None:
                secret = self._secret(secret_ref)
                headers[SIGNATURE_HEADER] = signature(secret, body)
        response = await self._client.post(url, content=body, headers=headers)
        if not 200 <= response.status_code < 300:
            raise DeliveryRefused(f"{url} answered {response.status_code}")

    async def _check_egress(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EgressDenied(f"EgressDenied: {parts.scheme or '?'} URLs are not sent to")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await self._resolver(parts.hostname, port)
        refusal = egress_refusal(parts.hostname, addresses, self._allow)
        if refusal is not None:
            raise EgressDenied(refusal)

    def _secret(self, ref: Mapping[str, Any]) -> str:
        return resolve_secret(ref, secrets_dir=self._settings.secrets_dir, environ=self._environ)

    async def _email(self, due: Due) -> None:
        settings = self._settings
        if not settings.smtp_host:
            raise DeliveryRefused("no SMTP server configured (TICKWORK_SMTP_HOST)")
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = ", ".join(due.channel_config.get("to", []))
        message["Subject"] = str(due.payload.get("summary", "tickwork notification"))[:200]
        message.set_content(orjson.dumps(due.payload, option=orjson.OPT_INDENT_2).decode())
        password = None
        if settings.smtp_password_secret:
            password = self._secret({"$secret": settings.smtp_password_secret})
        await asyncio.to_thread(_send_mail, settings, message, password)


def _send_mail(settings: Settings, message: EmailMessage, password: str | None) -> None:
    assert settings.smtp_host is not None
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.notify_timeout_seconds
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and password is not None:
            smtp.login(settings.smtp_username, password)
        smtp.send_message(message)


class EgressDenied(Exception):
    """The destination is internal and not allowed by `TICKWORK_HTTP_ALLOW`."""


class DeliveryRefused(Exception):
    """The receiver answered, but not with a 2xx (or no SMTP server is set)."""


__all__ = ["EgressDenied", "NotificationSender", "SecretMissing", "system_resolver"]
