"""What one `http.request` may reach and read, and how a host name becomes addresses.

Apart from `guarded_http` so that building the limits at start-up does not import httpx.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tickwork_shared.egress import EgressPolicy, IPAddress

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
"""host, port → every address the host resolves to (tests inject their own)."""


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses `getaddrinfo` gives for `host`; an address literal is itself.

    `getaddrinfo` also normalises the old numeric forms (`2852039166`, `0251.0376.0251.0376`)
    to the address they mean, so those are judged as that address.
    """
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


@dataclass(frozen=True)
class HttpLimits:
    """What one `http.request` may reach and read."""

    policy: EgressPolicy = field(default_factory=EgressPolicy)
    max_response_bytes: int = 1024 * 1024
    resolver: Resolver = system_resolver
