"""Which exchanges `amqp.publish` may use (pure)."""

from __future__ import annotations

import pytest
from tickwork_shared.publish_policy import publish_refusal


@pytest.mark.parametrize(
    "exchange",
    ["", "amq.topic", "amq.direct", "tickwork.events", "tickwork.commands", "tickwork.x"],
)
def test_reserved_exchanges_are_refused(exchange: str) -> None:
    assert publish_refusal(exchange, frozenset()) is not None


@pytest.mark.parametrize("exchange", ["reports", "billing.events", "tickworks", "Tickwork.events"])
def test_other_exchanges_are_allowed(exchange: str) -> None:
    assert publish_refusal(exchange, frozenset()) is None


def test_the_operator_allows_reserved_exchanges_by_name() -> None:
    allow = frozenset({"tickwork.commands", '""'})
    assert publish_refusal("tickwork.commands", allow) is None
    assert publish_refusal("", allow) is None
    assert publish_refusal("tickwork.events", allow) is not None
