"""`TICKWORK_AMQP_URL` naming several brokers: parsing and redaction (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tickwork_shared.bus.urls import redacted, split_amqp_urls
from tickwork_shared.settings import Settings


def test_one_url_is_a_list_of_one() -> None:
    assert split_amqp_urls("amqp://guest:guest@127.0.0.1:5672/") == [
        "amqp://guest:guest@127.0.0.1:5672/"
    ]


def test_several_urls_in_order_with_spaces_and_empty_parts_ignored() -> None:
    value = " amqp://u:p@rabbit-1:5672/tw , amqps://u:p@rabbit-2/tw,,amqp://rabbit-3:5673/ ,"
    assert split_amqp_urls(value) == [
        "amqp://u:p@rabbit-1:5672/tw",
        "amqps://u:p@rabbit-2/tw",
        "amqp://rabbit-3:5673/",
    ]


def test_an_escaped_comma_in_a_password_stays_in_its_url() -> None:
    assert split_amqp_urls("amqp://u:a%2Cb@h1/,amqp://u:a%2Cb@h2/") == [
        "amqp://u:a%2Cb@h1/",
        "amqp://u:a%2Cb@h2/",
    ]


@pytest.mark.parametrize(
    "value",
    [
        "",
        " , ",
        "http://u:secret@h1/",
        "amqp://u:secret@h1/,rabbit-2:5672",
        "amqp://u:secret@:5672/",
        "amqp://u:secret@h1:99999/",
        "amqp://u:secret@h1:port/",
    ],
)
def test_bad_values_are_refused_naming_the_setting_without_the_password(value: str) -> None:
    with pytest.raises(ValueError, match="TICKWORK_AMQP_URL") as error:
        split_amqp_urls(value)
    assert "secret" not in str(error.value)


def test_redacted_hides_only_the_password() -> None:
    assert redacted("amqp://user:s3cret@h1:5672/v") == "amqp://user:***@h1:5672/v"
    assert redacted("amqp://h1:5672/") == "amqp://h1:5672/"


def test_settings_refuse_a_bad_list_at_load() -> None:
    with pytest.raises(ValidationError, match="TICKWORK_AMQP_URL") as error:
        Settings(amqp_url="amqp://u:secret@h1/,nonsense")
    assert "secret" not in str(error.value)
    assert Settings(amqp_url="amqp://h1/,amqp://h2/").amqp_url == "amqp://h1/,amqp://h2/"
