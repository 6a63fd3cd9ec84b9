"""Which start-up failures are permanent (say it in one line, exit 2) and which pass on
their own (retry with back-off): pure decisions over the exception and the schema version.

A permanent failure is one that waiting cannot fix: an unknown database, a refused login,
a missing virtual host, a URL that does not parse, a schema the code does not match. A
transient one is the network or a server restarting: connection refused or reset,
timeouts, "server shutting down". What neither list knows is treated as permanent, so an
unforeseen mistake ends the process with its one line rather than retrying forever.
"""

from __future__ import annotations

from collections.abc import Iterator, Set
from dataclasses import dataclass

from aiormq import exceptions as amqp
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from tickwork_shared.errors import ConfigurationError, TransientError
from tickwork_shared.logs import redact

DATABASE_SETTING = "TICKWORK_DATABASE_URL"
AMQP_SETTING = "TICKWORK_AMQP_URL"
MIGRATE_COMMAND = "tickwork migrate"

# MariaDB server errors a retry cannot fix: access denied (to the server, to the
# database, by the unix-socket plugin) and unknown database.
DB_ACCESS_DENIED = frozenset({1044, 1045, 1698})
DB_UNKNOWN_DATABASE = 1049
# Can't connect, lost connection, gone away, shutting down, too many connections.
DB_TRANSIENT = frozenset({1040, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2055})

_MESSAGE_CHARS = 200


@dataclass(frozen=True)
class Verdict:
    permanent: bool
    reason: str
    """One line for the operator, never a secret."""


class SchemaMismatch(ConfigurationError):
    """The database schema is not the one this code was written for."""


def schema_problem(current: str | None, heads: Set[str], known: Set[str]) -> str | None:
    """Why a database at revision `current` (None: no schema) cannot be served by code
    whose migrations end at `heads` and contain `known`; None when it is at a head."""
    if current in heads:
        return None
    if current is None:
        return f"the database has no tickwork schema: run `{MIGRATE_COMMAND}`"
    head = ", ".join(sorted(heads))
    if current in known:
        return (
            f"the database schema is at revision {current}, older than this code's {head}:"
            f" run `{MIGRATE_COMMAND}`"
        )
    return (
        f"the database schema is at revision {current}, which this code does not know "
        f"(its newest is {head}): a newer tickwork migrated it; run that version"
    )


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _message(error: BaseException) -> str:
    text = " ".join(str(arg) for arg in error.args) if error.args else type(error).__name__
    text = redact(" ".join(text.split()))
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS] + "…"


def _db_code(error: DBAPIError) -> tuple[int | None, str]:
    args: tuple[object, ...] = tuple(getattr(error.orig, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0], redact(" ".join(str(args[1]).split()))[:_MESSAGE_CHARS]
    return None, _message(error.orig if isinstance(error.orig, BaseException) else error)


def _bad_database_url(error: BaseException) -> str:
    return f"{DATABASE_SETTING} is not a usable database URL: {_message(error)}"


def classify_database_error(error: BaseException) -> Verdict:
    """Start-up against MariaDB (or SQLite) failed with `error`: wait or give up?"""
    for link in _chain(error):
        if isinstance(link, ConfigurationError):
            return Verdict(True, str(link))
        if isinstance(link, ArgumentError | NoSuchModuleError):
            return Verdict(True, _bad_database_url(link))
        if isinstance(link, DBAPIError):
            code, text = _db_code(link)
            if code == DB_UNKNOWN_DATABASE:
                return Verdict(
                    True,
                    f"MariaDB: {text}; create it (or fix {DATABASE_SETTING}),"
                    f" then run `{MIGRATE_COMMAND}`",
                )
            if code in DB_ACCESS_DENIED:
                return Verdict(
                    True,
                    f"MariaDB refused the login: {text}; check the user and password"
                    f" in {DATABASE_SETTING} and the user's grants",
                )
            if code in DB_TRANSIENT or link.connection_invalidated:
                return Verdict(False, f"database unreachable: {text}")
            return Verdict(True, f"database error at start-up: {text}")
        if isinstance(link, TransientError | PoolTimeoutError | OSError | TimeoutError):
            return Verdict(False, f"database unreachable: {_message(link)}")
        if isinstance(link, EOFError):  # the server closed the socket mid-handshake
            return Verdict(False, "database unreachable: connection closed while opening")
        if isinstance(link, RuntimeError) and "does not expose socket" in str(link):
            return Verdict(False, "database unreachable: connection reset while connecting")
        if isinstance(link, ValueError):
            return Verdict(True, _bad_database_url(link))
    return Verdict(True, f"database check failed: {type(error).__name__}: {_message(error)}")


def classify_bus_error(error: BaseException) -> Verdict:
    """Start-up against RabbitMQ failed with `error`: wait or give up?"""
    for link in _chain(error):
        if isinstance(link, ConfigurationError):
            return Verdict(True, str(link))
        if isinstance(link, amqp.ProbableAuthenticationError | amqp.AuthenticationError):
            return Verdict(
                True,
                f"RabbitMQ refused the login ({_message(link)}); check the user and password"
                f" in {AMQP_SETTING}",
            )
        if isinstance(link, amqp.InvalidFrameError) and "Connection.Close" in str(link):
            # The broker answers Connection.Open on an unknown (or forbidden) vhost this way.
            return Verdict(
                True,
                "RabbitMQ refused to open the virtual host: it does not exist or the user"
                f" has no access to it; check the vhost in {AMQP_SETTING}"
                " (rabbitmqctl add_vhost, set_permissions)",
            )
        if isinstance(link, amqp.ConnectionNotAllowed):
            return Verdict(
                True,
                f"RabbitMQ did not allow the connection ({_message(link)}); check the vhost"
                f" and user in {AMQP_SETTING}",
            )
        if isinstance(link, amqp.ChannelAccessRefused):
            return Verdict(
                True,
                f"RabbitMQ refused an operation ({_message(link)}); the user needs configure,"
                " write and read permissions on the vhost (rabbitmqctl set_permissions)",
            )
        if isinstance(link, amqp.ChannelPreconditionFailed):
            return Verdict(True, f"RabbitMQ refused to declare the topology: {_message(link)}")
        if isinstance(link, amqp.ConnectionClosed | amqp.AMQPConnectionError):
            return Verdict(False, f"RabbitMQ unreachable: {_message(link)}")
        if isinstance(link, ValueError):
            return Verdict(True, f"{AMQP_SETTING} is not a usable AMQP URL: {_message(link)}")
        if isinstance(link, OSError | TimeoutError | amqp.ChannelInvalidStateError):
            return Verdict(False, f"RabbitMQ unreachable: {_message(link)}")
        if isinstance(link, StopAsyncIteration | EOFError):
            # aiormq's frame reader, on a connection closed while it opens (a proxy
            # without its backend, a broker going down mid-handshake).
            return Verdict(False, "RabbitMQ unreachable: connection closed while opening")
    for link in _chain(error):
        if isinstance(link, TransientError):
            return Verdict(False, f"RabbitMQ unreachable: {_message(link)}")
    return Verdict(True, f"RabbitMQ check failed: {type(error).__name__}: {_message(error)}")
