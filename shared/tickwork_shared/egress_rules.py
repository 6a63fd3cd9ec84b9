"""Where an outgoing connection may go: the rule of `http.request`, as a pure decision.

Loopback, private, link-local (cloud metadata included), multicast, reserved and
unspecified addresses are refused unless `TICKWORK_HTTP_ALLOW` allows them (host names,
`*.suffix` patterns, CIDRs). The caller resolves the host and asks about every address
it would connect to, so a name that resolves to an internal address is refused too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Allowance:
    """`TICKWORK_HTTP_ALLOW` parsed: exact hosts, `*.suffix` patterns, networks."""

    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, setting: str) -> Allowance:
        hosts: set[str] = set()
        suffixes: list[str] = []
        networks: list[Network] = []
        for raw in setting.split(","):
            item = raw.strip().lower()
            if not item:
                continue
            if item.startswith("*."):
                suffixes.append(item[1:])
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.rstrip("."))
        return cls(frozenset(hosts), tuple(suffixes), tuple(networks))

    def allows_host(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return name in self.hosts or any(name.endswith(suffix) for suffix in self.suffixes)


def is_internal(address: Address) -> bool:
    """An address a job must not reach by default."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_internal(address.ipv4_mapped)
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def egress_refusal(host: str, addresses: Sequence[Address], allow: Allowance) -> str | None:
    """Why connecting to `host` at `addresses` is refused, or None when it is allowed."""
    if not addresses:
        return f"EgressDenied: {host} has no address"
    if allow.allows_host(host):
        return None
    for address in addresses:
        if is_internal(address) and not any(address in net for net in allow.networks):
            return f"EgressDenied: {host} resolves to {address}, an internal address"
    return None


def parse_addresses(values: Iterable[str]) -> list[Address]:
    return [ipaddress.ip_address(value.split("%", 1)[0]) for value in values]
