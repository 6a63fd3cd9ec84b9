"""Bad `TICKWORK_*` variables explained one line each, and typos named (pure, no I/O)."""

from __future__ import annotations

import pytest
from tickwork_shared.setting_errors import (
    SettingsInvalid,
    describe_field,
    unknown_variables,
)
from tickwork_shared.settings import Settings, load_settings


def _problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsInvalid) as raised:
        load_settings()
    return raised.value.problems


def test_a_non_integer_names_the_variable_its_range_and_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problems = _problems(monkeypatch, TICKWORK_EXECUTOR_CONCURRENCY="abc")
    assert problems == [
        "TICKWORK_EXECUTOR_CONCURRENCY must be an integer from 1 to 1024, got 'abc'"
    ]


def test_every_bad_variable_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = _problems(
        monkeypatch,
        TICKWORK_EXECUTOR_CONCURRENCY="2000",
        TICKWORK_LEASE_SECONDS="0",
        TICKWORK_LOG_FORMAT="xml",
        TICKWORK_METRICS_PORT="-1",
    )
    assert sorted(problems) == [
        "TICKWORK_EXECUTOR_CONCURRENCY must be an integer from 1 to 1024, got '2000'",
        "TICKWORK_LEASE_SECONDS must be a number greater than 0, got '0'",
        "TICKWORK_LOG_FORMAT must be one of 'json', 'human', got 'xml'",
        "TICKWORK_METRICS_PORT must be an integer from 0 to 65535 (or unset), got '-1'",
    ]


def test_a_validator_check_gives_its_own_reason_never_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (line,) = _problems(monkeypatch, TICKWORK_AMQP_URL="amqp://guest:hunter2@127.0.0.1:port/")
    assert line.startswith(
        "TICKWORK_AMQP_URL: 'amqp://guest:***@127.0.0.1:port/' is not an amqp://"
    )
    assert "hunter2" not in line
    assert "must be a string" not in line


def test_a_long_or_secret_value_is_cut_and_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    (line,) = _problems(monkeypatch, TICKWORK_DATABASE_POOL_SIZE="x" * 500)
    assert line.endswith("…'")
    assert len(line) < 200
    (line,) = _problems(monkeypatch, TICKWORK_DATABASE_POOL_SIZE="mysql://u:hunter2@h/db")
    assert "hunter2" not in line


@pytest.mark.parametrize(
    ("field", "description"),
    [
        ("executor_concurrency", "an integer from 1 to 1024"),
        ("database_pool_size", "an integer at least 1"),
        ("relay_delay_seconds", "a number greater than 0"),
        ("log_format", "one of 'json', 'human'"),
        ("task_modules", "a comma-separated list"),
        ("database_url", "a string"),
    ],
)
def test_descriptions_come_from_the_field(field: str, description: str) -> None:
    assert describe_field(Settings.model_fields[field]) == description


def test_a_typo_is_a_warning_naming_the_closest_setting() -> None:
    warnings = unknown_variables({"TICKWORK_EXECUTOR_CONCURENCY": "4"}, Settings)
    assert warnings == [
        "TICKWORK_EXECUTOR_CONCURENCY is not a tickwork setting and is ignored;"
        " did you mean TICKWORK_EXECUTOR_CONCURRENCY?"
    ]


def test_unrelated_and_known_variables_are_not_warned_about() -> None:
    environ = {
        "TICKWORK_DATABASE_URL": "x",
        "tickwork_log_level": "debug",  # pydantic-settings reads names in any case
        "TICKWORK_TEST_DATABASE_URL": "x",
        "TICKWORK_BENCH_RUNS": "1",
        "TICKWORK_DRILLS": "1",
        "TICKWORK_DRILL_LEDGER": "x",
        "TICKWORK_SECRET_SMTP_PASSWORD": "x",
        "TICKWORK_API_URL": "http://x",
        "TICKWORK_API_KEY": "tw_x",
        "PATH": "/bin",
    }
    assert unknown_variables(environ, Settings) == []


def test_a_name_like_nothing_gets_no_suggestion() -> None:
    assert unknown_variables({"TICKWORK_ZZZ": "1"}, Settings) == [
        "TICKWORK_ZZZ is not a tickwork setting and is ignored"
    ]
