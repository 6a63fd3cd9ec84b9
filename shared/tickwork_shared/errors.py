"""The root of every tickwork exception; packages subclass it for their own errors."""


class TickworkError(Exception):
    """Something tickwork knows how to explain; the message is meant for the user."""


class TransientError(TickworkError):
    """A failure that may pass on its own (connection lost, deadlock); retrying can help."""


class BusUnavailable(TransientError):
    """The message bus did not confirm in time or is not connected."""


class ConfigurationError(TickworkError):
    """A mistake in the deployment that retrying cannot fix (a bad setting, an unknown
    database, a schema the code does not match, a task module that does not import).

    The command line prints its message, one line per problem, and exits with code 2.
    """
