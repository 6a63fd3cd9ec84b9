"""Defaults of settings whose value is a safety choice (pure, no I/O)."""

from __future__ import annotations

from tickwork_shared.settings import Settings


def test_services_end_idle_transactions_by_default() -> None:
    """A process frozen mid-transaction must not hold its locks until it wakes up: MariaDB
    ends the idle transaction (tests/integration/test_idle_transactions.py shows it)."""
    timeout = Settings().database_idle_transaction_timeout_seconds
    assert 0 < timeout < 50, "on, and below MariaDB's default lock wait timeout"
