"""Permanent or transient: the start-up decision over real driver exceptions (no I/O)."""

from __future__ import annotations

import asyncio

import asyncmy.errors
import pytest
from aiormq import exceptions as amqp
from sqlalchemy.exc import ArgumentError, OperationalError
from tickwork_shared.errors import BusUnavailable
from tickwork_shared.startup_rules import (
    classify_bus_error,
    classify_database_error,
    schema_problem,
)


def _mariadb(code: int, message: str) -> OperationalError:
    return OperationalError("SELECT 1", {}, asyncmy.errors.OperationalError(code, message))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_mariadb(1049, "Unknown database 'nope'"), "Unknown database 'nope'"),
        (_mariadb(1045, "Access denied for user 'u'@'h'"), "check the user and password"),
        (_mariadb(1044, "Access denied for user 'u' to database 'd'"), "TICKWORK_DATABASE_URL"),
        (ArgumentError("Could not parse SQLAlchemy URL"), "is not a usable database URL"),
    ],
)
def test_database_mistakes_are_permanent(error: BaseException, expected: str) -> None:
    verdict = classify_database_error(error)
    assert verdict.permanent
    assert expected in verdict.reason


def test_an_unknown_database_says_to_migrate_after_creating_it() -> None:
    verdict = classify_database_error(_mariadb(1049, "Unknown database 'nope'"))
    assert "`tickwork migrate`" in verdict.reason


@pytest.mark.parametrize(
    "error",
    [
        _mariadb(2003, "Can't connect to MySQL server on '127.0.0.1' (111)"),
        _mariadb(2013, "Lost connection to MySQL server during query"),
        _mariadb(1927, "Connection was killed"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        RuntimeError("Transport does not expose socket instance"),
        asyncio.IncompleteReadError(b"", 4),
    ],
)
def test_database_outages_are_transient(error: BaseException) -> None:
    assert not classify_database_error(error).permanent


def test_an_unforeseen_error_is_permanent_rather_than_retried_forever() -> None:
    verdict = classify_database_error(KeyError("surprise"))
    assert verdict.permanent
    assert "KeyError" in verdict.reason


def test_bus_login_and_vhost_mistakes_are_permanent() -> None:
    login = classify_bus_error(amqp.ProbableAuthenticationError("ACCESS_REFUSED - Login"))
    assert login.permanent
    assert "TICKWORK_AMQP_URL" in login.reason
    vhost = classify_bus_error(
        amqp.InvalidFrameError("Expected one of ['Connection.OpenOk'], got <Connection.Close>")
    )
    assert vhost.permanent
    assert "virtual host" in vhost.reason
    url = classify_bus_error(ValueError("Invalid URL: port can't be converted to integer"))
    assert url.permanent
    assert "not a usable AMQP URL" in url.reason


def test_a_wrapped_cause_decides() -> None:
    error = BusUnavailable("connect to RabbitMQ")
    error.__cause__ = amqp.ProbableAuthenticationError("ACCESS_REFUSED")
    assert classify_bus_error(error).permanent


@pytest.mark.parametrize(
    "error",
    [
        amqp.AMQPConnectionError(111, "Connection refused"),
        amqp.ConnectionClosed(320, "CONNECTION_FORCED - broker forced connection closure"),
        ConnectionResetError(),
        TimeoutError(),
        BusUnavailable("the bus is not started"),
        StopAsyncIteration(),  # aiormq, on a connection closed during its handshake
        asyncio.IncompleteReadError(b"", 7),
    ],
)
def test_bus_outages_are_transient(error: BaseException) -> None:
    assert not classify_bus_error(error).permanent


def test_a_password_never_reaches_the_reason() -> None:
    verdict = classify_bus_error(ValueError("bad url amqp://guest:hunter2@host/"))
    assert "hunter2" not in verdict.reason


HEADS = frozenset({"0002"})
KNOWN = frozenset({"0001", "0002"})


def test_schema_at_head_is_fine() -> None:
    assert schema_problem("0002", HEADS, KNOWN) is None


def test_schema_missing_or_behind_says_to_migrate() -> None:
    assert schema_problem(None, HEADS, KNOWN) == (
        "the database has no tickwork schema: run `tickwork migrate`"
    )
    behind = schema_problem("0001", HEADS, KNOWN)
    assert behind is not None
    assert "older" in behind
    assert "`tickwork migrate`" in behind


def test_schema_ahead_says_which_revision_is_unknown() -> None:
    ahead = schema_problem("9999", HEADS, KNOWN)
    assert ahead is not None
    assert "9999" in ahead
    assert "does not know" in ahead
