"""Where `http.request` may connect: a pure decision on one resolved address.

A job's URL is user input, and the executor sits inside the deployment's network: without
a policy a job reaches the executor's loopback, the cluster's pods and the cloud's metadata
service (169.254.169.254), and reads their answers back as its result. The decision is
made on each address the destination resolves to, at connect time (see `guarded_http`),
never on the URL's text: `2852039166`, `0251.0376.0251.0376` and `[::ffff:a9fe:a9fe]` all
name 169.254.169.254 once resolved.

No I/O here: `decide` takes the host name and one address and says why it is refused.
Shared by the executor's `http.request` and the planners' notification webhooks, so both
follow one rule and one reading of `TICKWORK_HTTP_ALLOW`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from tickwork_shared.errors import ConfigurationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
EgressMode = Literal["default", "allowlist"]


class EgressConfigError(ConfigurationError, ValueError):
    """A `TICKWORK_HTTP_ALLOW` entry that is neither a host name, `*.suffix` nor a CIDR
    (a planner starting its notification sender stops on it with that one line)."""


@dataclass(frozen=True)
class EgressPolicy:
    """`TICKWORK_HTTP_EGRESS` and `TICKWORK_HTTP_ALLOW`, parsed.

    mode `default`: public addresses are allowed, the special ones (`refusal_class`)
    only when allowed explicitly; mode `allowlist`: only what is allowed explicitly.
    """

    mode: EgressMode = "default"
    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, entries: Iterable[str], mode: EgressMode = "default") -> EgressPolicy:
        """From the operator's list: `api.example.com`, `*.example.com`, `10.1.0.0/16`,
        `127.0.0.1` (a bare address is a one-address network)."""
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if not entry:
                continue
            if entry.startswith("*."):
                suffix = entry[1:]
                if len(suffix) < 2 or "*" in suffix:
                    raise EgressConfigError(f"TICKWORK_HTTP_ALLOW: bad pattern {raw!r}")
                suffixes.append(suffix)
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if "*" in entry or "/" in entry or " " in entry or ":" in entry:
                raise EgressConfigError(
                    f"TICKWORK_HTTP_ALLOW: {raw!r} is neither a host name, *.suffix nor a CIDR"
                )
            hosts.add(entry)
        return cls(mode, frozenset(hosts), tuple(suffixes), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        """The host name (as written in the URL) is listed by name or `*.suffix`."""
        name = host.lower().rstrip(".")
        return name in self.hosts or any(name.endswith(s) for s in self.suffixes)

    def address_allowed(self, address: IPAddress) -> bool:
        """The address lies in a listed CIDR (an IPv4-mapped IPv6 address as its IPv4)."""
        plain = unmapped(address)
        return any(
            plain in network for network in self.networks if plain.version == network.version
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def unmapped(address: IPAddress) -> IPAddress:
    """An IPv6 address that carries an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, 6to4
    `2002:…`, NAT64 `64:ff9b::a.b.c.d`) as that IPv4 address: it is judged as what it
    reaches."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def refusal_class(address: IPAddress) -> str | None:
    """Why this address is special (refused unless allowed explicitly), or None if public."""
    plain = unmapped(address)
    if plain.is_unspecified:
        return "unspecified"
    if plain.is_loopback:
        return "loopback"
    if plain.is_link_local:
        return "link-local"
    if plain.is_multicast:
        return "multicast"
    if plain.is_reserved:
        return "reserved"
    if plain.is_private:
        return "private"
    if not plain.is_global:
        return "not globally routable"
    return None


def decide(host: str, address: IPAddress, policy: EgressPolicy) -> Decision:
    """May a request for `host` connect to `address` (one of what `host` resolved to)?"""
    if policy.host_allowed(host):
        return Decision(True, f"host {host} is in TICKWORK_HTTP_ALLOW")
    if policy.address_allowed(address):
        return Decision(True, f"{address} is in TICKWORK_HTTP_ALLOW")
    if policy.mode == "allowlist":
        return Decision(
            False,
            f"{host} ({address}) is not in TICKWORK_HTTP_ALLOW (TICKWORK_HTTP_EGRESS=allowlist)",
        )
    special = refusal_class(address)
    if special is not None:
        return Decision(False, f"{host} resolves to {address}, a {special} address")
    return Decision(True, f"{address} is a public address")


def refusal(host: str, addresses: Iterable[IPAddress], policy: EgressPolicy) -> str | None:
    """Why connecting to `host` at any of `addresses` is refused (`decide` on each), or
    None when every one is allowed; a host without addresses is refused."""
    found = list(addresses)
    if not found:
        return f"{host} has no address"
    for address in found:
        decision = decide(host, address, policy)
        if not decision.allowed:
            return decision.reason
    return None
