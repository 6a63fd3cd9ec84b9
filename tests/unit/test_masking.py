"""What is masked in args and stripped from URLs (pure), and what the log formatter prints."""

from __future__ import annotations

import copy
import logging

import orjson
import pytest
from tickwork_api.keys import generate_key
from tickwork_shared.logs import HumanFormatter, JsonFormatter, redact
from tickwork_shared.masking import is_secret_key, mask_args, strip_url_credentials

ARGS = {
    "url": "https://hooks.example/x",
    "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k-1", "X-Team": "ops"},
    "json": {
        "user": "ann",
        "password": "hunter2",
        "nested": [{"deeper": {"client_secret": "s", "accessToken": "t", "note": "keep"}}],
    },
    "apiKey": "top",
    "token": {"$secret": "bot-token"},
}


@pytest.mark.parametrize(
    "key",
    [
        "authorization",
        "Authorization",
        "PASSWORD",
        "token",
        "secret",
        "apiKey",
        "api_key",
        "X-Api-Key",
        "client_secret",
        "accessToken",
        "dbPassword",
        "passwd",
    ],
)
def test_secret_looking_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["url", "user", "method", "headers", "json", "X-Team", "body"])
def test_plain_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_mask_args_masks_at_any_depth_and_keeps_the_rest() -> None:
    original = copy.deepcopy(ARGS)
    masked = mask_args(ARGS)
    assert masked["headers"] == {"Authorization": "***", "X-Api-Key": "***", "X-Team": "ops"}
    assert masked["json"]["password"] == "***"
    assert masked["json"]["user"] == "ann"
    assert masked["json"]["nested"] == [
        {"deeper": {"client_secret": "***", "accessToken": "***", "note": "keep"}}
    ]
    assert masked["apiKey"] == "***"
    assert masked["token"] == {"$secret": "bot-token"}  # a reference is no secret
    assert masked["url"] == ARGS["url"]
    assert original == ARGS  # the input is not changed


def test_mask_args_survives_deep_nesting() -> None:
    deep: dict[str, object] = {"password": "x"}
    for _ in range(5000):
        deep = {"a": deep}
    masked = mask_args(deep)
    for _ in range(5000):
        masked = masked["a"]
    assert masked == {"password": "***"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET https://bob:pw@api.example/x failed", "GET https://api.example/x failed"),
        ("amqp://guest:guest@rabbit:5672/ down", "amqp://rabbit:5672/ down"),
        ("see http://token@host/", "see http://host/"),
        ("no url: a@b and x://", "no url: a@b and x://"),
        ("https://api.example/a@b", "https://api.example/a@b"),
    ],
)
def test_url_credentials_are_stripped(text: str, expected: str) -> None:
    assert strip_url_credentials(text) == expected


@pytest.mark.parametrize("formatter", [JsonFormatter(), HumanFormatter()])
def test_logs_never_print_secret_looking_values_of_structured_fields(
    formatter: logging.Formatter,
) -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "job %s changed", ("n",), None)
    record.args_logged = ARGS  # a structured field, as `extra` passes it
    record.accessToken = "t-123"
    line = formatter.format(record)
    for secret in ("Bearer abc", "hunter2", "k-1", "t-123", '"top"'):
        assert secret not in line
    if isinstance(formatter, JsonFormatter):
        assert orjson.loads(line)["args_logged"]["headers"]["X-Team"] == "ops"


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


@pytest.mark.parametrize("formatter", [JsonFormatter(), HumanFormatter()])
def test_formatters_mask_what_looks_like_a_secret(formatter: logging.Formatter) -> None:
    key = generate_key()
    record = _record(
        "connecting to %s with %s",
        "amqp://tickwork:s3cret-pass@rabbitmq:5672/tickwork",
        key,
        action="connect",
        password="hunter2",
        authorization=f"Bearer {key}",
        url="mysql+asyncmy://tickwork:db-pass@mariadb:3306/tickwork",
        job_id=7,
    )
    line = formatter.format(record)
    for secret in (key, "s3cret-pass", "hunter2", "db-pass"):
        assert secret not in line
    assert "amqp://tickwork:***@rabbitmq:5672/tickwork" in line
    assert "7" in line


def test_redact_leaves_ordinary_text_alone() -> None:
    text = "job 7 (tw_short) ran at https://example.org/hook?x=1 in 0.2 s"
    assert redact(text) == text
