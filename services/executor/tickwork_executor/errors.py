"""The executor's exceptions: one root, `ExecutorError`, under tickwork's `TickworkError`."""

from __future__ import annotations

from tickwork_shared.errors import ConfigurationError, TickworkError


class ExecutorError(TickworkError):
    """Something the executor knows how to explain."""


class TaskDefinitionError(ExecutorError, ConfigurationError):
    """A task function cannot be offered: bad signature, duplicate name, module not importable.

    Raised at start-up, so a broken deployment fails loudly instead of failing every run
    (a `ConfigurationError`: the command exits with code 2).
    """


class InvalidArguments(ExecutorError):
    """A run's arguments do not match its task function's parameters (the run fails)."""


class TaskFailed(ExecutorError):
    """Raised by a task function to fail its run with a message and nothing more.

    The execution's `error` reads `TaskFailed: <message>`, like any other exception's
    `Type: message`; task functions may raise whatever they like.
    """


class PoisonMessage(ExecutorError):
    """A delivery on `tickwork.runs` that can never be handled; it is dead-lettered."""


class EgressDenied(ExecutorError):
    """`http.request` to a destination the egress policy refuses (the run fails)."""


class ResponseTooLarge(ExecutorError):
    """`http.request` got a body over `TICKWORK_HTTP_MAX_RESPONSE_BYTES` (the run fails)."""


class PublishDenied(ExecutorError):
    """`amqp.publish` to an exchange of tickwork's own or the broker's (the run fails)."""


class SecretMissing(ExecutorError):
    """A `{"$secret": NAME}` argument names a secret this executor does not have."""
