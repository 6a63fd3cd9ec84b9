"""Pure notification decisions, secret references and the egress rule."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from tickwork_shared.egress import EgressPolicy, refusal
from tickwork_shared.notify import (
    Condition,
    final_failure,
    parse_rule_entry,
    retry_delay,
    signature,
    stale_basis,
    wants,
)

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_failed_and_timed_out_only_when_no_retry_follows() -> None:
    assert final_failure("failed", 1, max_retries=2, job_active=True) is None
    assert final_failure("failed", 3, max_retries=2, job_active=True) is Condition.FAILED
    assert final_failure("timed_out", 1, max_retries=0, job_active=True) is Condition.TIMED_OUT
    assert final_failure("failed", 1, max_retries=5, job_active=False) is Condition.FAILED
    assert final_failure("succeeded", 9, max_retries=0, job_active=True) is None


def test_rules_match_conditions_and_skip_reasons() -> None:
    assert wants(["failed"], Condition.FAILED)
    assert not wants(["failed"], Condition.TIMED_OUT)
    assert wants(["skipped"], Condition.SKIPPED, "overlap")
    assert wants(["skipped:overlap"], Condition.SKIPPED, "overlap")
    assert not wants(["skipped:misfire"], Condition.SKIPPED, "overlap")


@pytest.mark.parametrize("entry", ["exploded", "failed:x", ""])
def test_unknown_rule_entries_are_refused_by_name(entry: str) -> None:
    with pytest.raises(ValueError, match=repr(entry) if entry else "unknown"):
        parse_rule_entry(entry)


def test_stale_once_per_period() -> None:
    created = NOW - timedelta(hours=2)
    args = {"created_at": created, "stale_after_seconds": 3600}
    assert stale_basis(NOW, last_success_at=None, notified_for=None, **args) == created
    assert stale_basis(NOW, last_success_at=None, notified_for=created, **args) is None
    recent = NOW - timedelta(minutes=5)
    assert stale_basis(NOW, last_success_at=recent, notified_for=created, **args) is None
    old = NOW - timedelta(hours=1, seconds=1)
    assert stale_basis(NOW, last_success_at=old, notified_for=created, **args) == old
    assert (
        stale_basis(
            NOW,
            last_success_at=None,
            created_at=created,
            stale_after_seconds=None,
            notified_for=None,
        )
        is None
    )


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert signature("k", body) == f"sha256={expected}"


def test_retry_delay_doubles_up_to_the_cap() -> None:
    delays = [retry_delay(n, base_seconds=5, cap_seconds=30) for n in range(1, 6)]
    assert delays == [5, 10, 20, 30, 30]


def _ips(*values: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(v) for v in values]


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "::1", "0.0.0.0"]
)
def test_internal_addresses_are_refused_by_default(address: str) -> None:
    why = refusal("hooks.example", _ips(address), EgressPolicy())
    assert why is not None
    assert address in why


def test_public_addresses_and_allowed_ones_pass() -> None:
    assert refusal("example.com", _ips("93.184.216.34"), EgressPolicy()) is None
    allow = EgressPolicy.parse(["127.0.0.1", "*.internal.example", "hooks.local", "10.0.0.0/8"])
    assert refusal("127.0.0.1", _ips("127.0.0.1"), allow) is None
    assert refusal("a.internal.example", _ips("192.168.1.1"), allow) is None
    assert refusal("hooks.local", _ips("192.168.1.1"), allow) is None
    assert refusal("x", _ips("10.9.9.9"), allow) is None
    assert refusal("x", _ips("10.9.9.9", "192.168.1.1"), allow) is not None
    assert refusal("x", [], allow) is not None


def test_the_allowlist_mode_refuses_public_addresses_not_listed() -> None:
    allow = EgressPolicy.parse(["hooks.example"], "allowlist")
    assert refusal("hooks.example", _ips("93.184.216.34"), allow) is None
    assert refusal("example.com", _ips("93.184.216.34"), allow) is not None
