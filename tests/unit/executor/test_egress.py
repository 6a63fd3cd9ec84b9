"""The egress decision on single addresses, and the resolver that normalises numeric hosts.

Nothing here connects anywhere: private, link-local and metadata addresses are only judged.
"""

from __future__ import annotations

import ipaddress

import pytest
from tickwork_executor.run.http_limits import system_resolver
from tickwork_shared.egress import (
    EgressConfigError,
    EgressPolicy,
    decide,
    refusal_class,
)

DEFAULT = EgressPolicy()


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT (shared space)
        ("192.0.2.10", "private"),  # documentation range
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:a9fe:a9fe", "link-local"),  # the metadata address, mapped, in hex
        ("::ffff:10.0.0.1", "private"),
        ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 carrying 169.254.169.254
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 carrying 169.254.169.254
    ],
)
def test_every_special_class_is_refused_by_default(address: str, why: str) -> None:
    ip = ipaddress.ip_address(address)
    assert refusal_class(ip) == why
    decision = decide("target.example", ip, DEFAULT)
    assert not decision.allowed
    assert why in decision.reason


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed_by_default(address: str) -> None:
    assert decide("example.com", ipaddress.ip_address(address), DEFAULT).allowed


def test_the_allow_list_opens_hosts_suffixes_and_cidrs() -> None:
    policy = EgressPolicy.parse(["intranet.corp", "*.svc.cluster.local", "10.20.0.0/16", "::1"])
    private = ipaddress.ip_address("10.9.9.9")
    assert decide("intranet.corp", private, policy).allowed
    assert decide("INTRANET.corp.", private, policy).allowed
    assert decide("billing.prod.svc.cluster.local", private, policy).allowed
    assert not decide("svc.cluster.local.evil", private, policy).allowed
    assert decide("x", ipaddress.ip_address("10.20.3.4"), policy).allowed
    assert decide("x", ipaddress.ip_address("::ffff:10.20.3.4"), policy).allowed
    assert decide("x", ipaddress.ip_address("::1"), policy).allowed
    assert not decide("x", ipaddress.ip_address("10.21.0.1"), policy).allowed
    assert not decide("x", ipaddress.ip_address("127.0.0.1"), policy).allowed


def test_allowlist_mode_refuses_even_public_addresses_not_listed() -> None:
    policy = EgressPolicy.parse(["api.partner.example", "203.0.114.0/24"], mode="allowlist")
    public = ipaddress.ip_address("1.1.1.1")
    assert not decide("one.one.one.one", public, policy).allowed
    assert "allowlist" in decide("one.one.one.one", public, policy).reason
    assert decide("api.partner.example", public, policy).allowed
    assert decide("x", ipaddress.ip_address("203.0.114.7"), policy).allowed


@pytest.mark.parametrize("entry", ["*.", "a*.example", "10.0.0.0/33", "http://x", "a b"])
def test_a_meaningless_allow_entry_is_refused(entry: str) -> None:
    with pytest.raises(EgressConfigError, match="TICKWORK_HTTP_ALLOW"):
        EgressPolicy.parse([entry])


@pytest.mark.parametrize(
    "host",
    ["2852039166", "0251.0376.0251.0376", "0xa9.0xfe.0xa9.0xfe", "169.254.43518"],
)
async def test_numeric_host_forms_resolve_to_the_address_they_mean(host: str) -> None:
    # getaddrinfo parses numeric forms itself: no query leaves the machine.
    addresses = await system_resolver(host, 80)
    assert addresses == [ipaddress.ip_address("169.254.169.254")]
    assert not decide(host, addresses[0], DEFAULT).allowed


async def test_an_address_literal_is_its_own_resolution() -> None:
    assert await system_resolver("::ffff:127.0.0.1", 80) == [
        ipaddress.ip_address("::ffff:127.0.0.1")
    ]


async def test_localhost_resolves_to_loopback_and_is_refused() -> None:
    # /etc/hosts answers: no query leaves the machine. (`localhost:3306` from the issue.)
    addresses = await system_resolver("localhost", 3306)
    assert addresses
    assert all(refusal_class(a) == "loopback" for a in addresses)
    assert not any(decide("localhost", a, DEFAULT).allowed for a in addresses)
