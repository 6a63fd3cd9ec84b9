"""Delivering one notification: a signed webhook, a Slack-compatible webhook, an email.

Webhooks follow `http.request`'s egress policy (`tickwork_shared.egress`, the same
`TICKWORK_HTTP_EGRESS`/`TICKWORK_HTTP_ALLOW`): the host is resolved and every address
judged before connecting; internal destinations need `TICKWORK_HTTP_ALLOW`. Secrets are
read like the executors read them (`tickwork_shared.secret_store`).
Redirects are not followed. Email goes through the SMTP server of the settings (the
standard library, in a thread). Errors come back as one line for `lastError`; secrets are
never in it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import smtplib
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from tickwork_shared.egress import EgressPolicy, IPAddress, refusal
from tickwork_shared.notify import SIGNATURE_HEADER, ChannelKind, signature
from tickwork_shared.secret_refs import REFERENCE_KEY, SecretNotFound, is_reference, resolve
from tickwork_shared.secret_store import SecretStore
from tickwork_shared.settings import Settings

from tickwork_planner.notifications import Due

if TYPE_CHECKING:
    import httpx

Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
"""Host and port → the addresses a connection would use (tests inject one)."""

MAX_ERROR_CHARS = 500


async def system_resolver(host: str, port: int) -> Sequence[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


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
        self._policy = EgressPolicy.parse(settings.http_allow, settings.http_egress)
        self._resolver = resolver
        self._secrets = SecretStore(settings.secrets_dir, environ)
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        """The HTTP client, made at the first webhook: httpx (and httpcore, anyio, h11,
        certifi) is 4.7 MiB of idle RSS a planner without webhooks never needs."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                timeout=self._settings.notify_timeout_seconds, follow_redirects=False
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
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
        response = await self._http().post(url, content=body, headers=headers)
        if not 200 <= response.status_code < 300:
            raise DeliveryRefused(f"{url} answered {response.status_code}")

    async def _check_egress(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EgressDenied(f"EgressDenied: {parts.scheme or '?'} URLs are not sent to")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await self._resolver(parts.hostname, port)
        why = refusal(parts.hostname, addresses, self._policy)
        if why is not None:
            raise EgressDenied(f"EgressDenied: {why}; refused by the egress policy")

    def _secret(self, ref: Mapping[str, Any]) -> str:
        return secret_value(self._secrets, ref)

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


def secret_value(store: SecretStore, ref: Mapping[str, Any]) -> str:
    """The value of secret reference `ref`, read as executors read theirs (a file in
    `TICKWORK_SECRETS_DIR`, else `TICKWORK_SECRET_<NAME>`). Raises `SecretMissing` naming
    the secret and where it was looked for, never a value."""
    if not is_reference(ref):
        raise SecretMissing(f'not a secret reference: expected {{"{REFERENCE_KEY}": "NAME"}}')
    try:
        return str(resolve(ref, store.get))
    except SecretNotFound as missing:
        raise SecretMissing(
            f"secret {missing.name!r} not found ({store.where(missing.name)})"
        ) from None


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


class SecretMissing(LookupError):
    """A referenced secret is in neither the secrets folder nor the environment."""


class EgressDenied(Exception):
    """The destination is internal and not allowed by `TICKWORK_HTTP_ALLOW`."""


class DeliveryRefused(Exception):
    """The receiver answered, but not with a 2xx (or no SMTP server is set)."""


__all__ = [
    "EgressDenied",
    "NotificationSender",
    "SecretMissing",
    "secret_value",
    "system_resolver",
]
