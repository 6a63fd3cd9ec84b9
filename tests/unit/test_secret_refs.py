"""Secret references in args: recognised, checked, resolved, stood in for (pure)."""

from __future__ import annotations

import pytest
from tickwork_shared.secret_refs import (
    SecretNotFound,
    env_name,
    is_reference,
    reference_problems,
    references,
    resolve,
    with_placeholders,
)

ARGS = {
    "url": "https://x.example",
    "headers": {"Authorization": {"$secret": "hook-token"}},
    "json": {"users": [{"password": {"$secret": "db.pass"}}]},
}


def test_references_are_found_anywhere() -> None:
    assert references(ARGS) == [
        (("headers", "Authorization"), "hook-token"),
        (("json", "users", 0, "password"), "db.pass"),
    ]


def test_resolve_replaces_each_reference_and_nothing_else() -> None:
    values = {"hook-token": "Bearer abc", "db.pass": "hunter2"}
    resolved = resolve(ARGS, values.get)
    assert resolved["headers"] == {"Authorization": "Bearer abc"}
    assert resolved["json"] == {"users": [{"password": "hunter2"}]}
    assert resolved["url"] == ARGS["url"]
    assert ARGS["headers"] == {"Authorization": {"$secret": "hook-token"}}  # not mutated


def test_a_missing_secret_is_named() -> None:
    with pytest.raises(SecretNotFound) as raised:
        resolve(ARGS, {"hook-token": "x"}.get)
    assert raised.value.name == "db.pass"


@pytest.mark.parametrize(
    "bad",
    [
        {"$secret": "../etc/passwd"},
        {"$secret": ".hidden"},
        {"$secret": ""},
        {"$secret": 5},
        {"$secret": "a/b"},
        {"$secret": "ok", "extra": 1},
        {"$secret": "x" * 129},
    ],
)
def test_malformed_references_are_problems(bad: object) -> None:
    assert not is_reference(bad)
    [(path, message)] = reference_problems({"token": bad})
    assert path == ("token", "$secret")
    assert "NAME" in message
    assert with_placeholders({"token": bad}) == {"token": bad}  # not a reference


def test_placeholders_stand_in_for_references() -> None:
    assert with_placeholders(ARGS)["headers"] == {"Authorization": "secret"}
    assert reference_problems(ARGS) == []


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("hook-token", "TICKWORK_SECRET_HOOK_TOKEN"),
        ("db.pass", "TICKWORK_SECRET_DB_PASS"),
        ("API_KEY", "TICKWORK_SECRET_API_KEY"),
    ],
)
def test_the_environment_variable_of_a_name(name: str, variable: str) -> None:
    assert env_name(name) == variable
