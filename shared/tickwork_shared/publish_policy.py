"""Which exchanges `amqp.publish` may write to: never tickwork's own or the broker's.

A job's `amqp.publish` runs with the executor's broker connection. Left open, it forges
tickwork's own messages: a run on the default exchange `""` (queue `tickwork.runs`), an
`execution.succeeded` on `tickwork.events`, a `job.trigger` on `tickwork.commands`. So
the default exchange, `amq.*` and `tickwork.*` are refused unless the operator lists the
exchange in `TICKWORK_AMQP_PUBLISH_ALLOW` (the api at create, the executor at run time).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection

DEFAULT_EXCHANGE_ENTRY = '""'
"""How `TICKWORK_AMQP_PUBLISH_ALLOW` names the default exchange (an empty entry cannot)."""
RESERVED_PREFIXES = ("amq.", "tickwork.")


def publish_refusal(exchange: str, allow: Collection[str]) -> str | None:
    """Why publishing to `exchange` is refused, or None when it is allowed."""
    if exchange == "":
        if DEFAULT_EXCHANGE_ENTRY in allow:
            return None
        return (
            'the default exchange "" delivers straight to any queue, tickwork.runs included; '
            "publish to an exchange of your own"
        )
    if exchange in allow:
        return None
    for prefix in RESERVED_PREFIXES:
        if exchange.startswith(prefix):
            owner = "RabbitMQ" if prefix == "amq." else "tickwork"
            return (
                f"exchange {exchange!r} belongs to {owner}; it can be allowed in "
                "TICKWORK_AMQP_PUBLISH_ALLOW"
            )
    return None
