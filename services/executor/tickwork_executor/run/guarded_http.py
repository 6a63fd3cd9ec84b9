"""HTTP for `http.request` under the egress policy: checked per connection, body capped.

The check lives in the connection path itself (an httpcore network backend): the host is
resolved once, every address it resolves to is judged by `egress.decide`, and the socket
is opened to a checked address, never to the name. So there is no window between check
and connect, and a name that re-resolves elsewhere later (DNS rebinding) gains nothing.
TLS still verifies the certificate against the URL's host name (httpcore passes it as
`server_hostname`). Proxies from the environment are ignored: they would move the check
to the proxy's address.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from tickwork_shared.egress import EgressPolicy, decide

from tickwork_executor.errors import EgressDenied, ResponseTooLarge
from tickwork_executor.run.http_limits import HttpLimits, Resolver


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, judges every address, then connects to a judged address only."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._resolver(host, port)
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from error
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        # Every address, not just the one we would use: a name that also resolves to a
        # private address is refused whole, whatever order the resolver gives.
        for address in addresses:
            decision = decide(host, address, self._policy)
            if not decision.allowed:
                raise EgressDenied(f"{decision.reason}; refused by the egress policy")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressDenied("unix sockets are refused by the egress policy")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes milliseconds: once per process, not per request.
    return httpx.create_ssl_context(trust_env=False)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a connection pool that connects through `GuardedBackend`.

    httpx offers no way to pass a network backend to the pool it builds, so this sets the
    pool itself (the one attribute `AsyncHTTPTransport` keeps) instead of calling
    `AsyncHTTPTransport.__init__`, which would build and throw away another.
    """

    def __init__(self, policy: EgressPolicy, resolver: Resolver) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(),
            network_backend=GuardedBackend(policy, resolver),
        )


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: httpx.Headers
    content: bytes


async def send(
    limits: HttpLimits,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    json: Any,
    timeout_seconds: float,
) -> HttpAnswer:
    """One request, redirects not followed, the body read in chunks up to the limit.

    Raises `EgressDenied` for a refused destination and `ResponseTooLarge` as soon as the
    (decoded) body passes `limits.max_response_bytes`: the rest is never read.
    """
    transport = GuardedTransport(limits.policy, limits.resolver)
    async with (
        httpx.AsyncClient(
            transport=transport, timeout=timeout_seconds, follow_redirects=False, trust_env=False
        ) as client,
        client.stream(method, url, headers=dict(headers), json=json) as response,
    ):
        cap = limits.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(
                f"{method} {url} announced {int(declared)} bytes; the limit is {cap} "
                "(TICKWORK_HTTP_MAX_RESPONSE_BYTES)"
            )
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                raise ResponseTooLarge(
                    f"{method} {url} answered more than {cap} bytes "
                    "(TICKWORK_HTTP_MAX_RESPONSE_BYTES)"
                )
        return HttpAnswer(response.status_code, response.headers, bytes(body))
