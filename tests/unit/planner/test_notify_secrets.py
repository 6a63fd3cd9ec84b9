"""Planners read notification secrets exactly as executors read a job's: one store."""

from __future__ import annotations

from pathlib import Path

import pytest
from tickwork_planner.notify_delivery import SecretMissing, secret_value
from tickwork_shared.secret_store import SecretStore


def test_a_file_wins_over_the_environment_variable(tmp_path: Path) -> None:
    (tmp_path / "ops-hook").write_text("from-file\n")
    env = {"TICKWORK_SECRET_OPS_HOOK": "from-env", "TICKWORK_SECRET_OTHER_ONE": "other"}
    store = SecretStore(str(tmp_path), env)
    assert secret_value(store, {"$secret": "ops-hook"}) == "from-file"
    # The executors' variable name: upper-cased, `-` and `.` as `_`.
    assert secret_value(store, {"$secret": "other.one"}) == "other"


def test_a_missing_secret_names_where_it_was_looked_for(tmp_path: Path) -> None:
    store = SecretStore(str(tmp_path), {"TICKWORK_SECRET_ELSE": "value"})
    with pytest.raises(SecretMissing) as caught:
        secret_value(store, {"$secret": "gone"})
    assert "'gone'" in str(caught.value)
    assert "TICKWORK_SECRET_GONE" in str(caught.value)
    assert "value" not in str(caught.value)


@pytest.mark.parametrize(
    "ref", [{"$secret": "../etc/passwd"}, {"$secret": "A", "x": 1}, {"$secret": 3}, {}]
)
def test_only_a_well_formed_reference_is_read(ref: dict[str, object]) -> None:
    with pytest.raises(SecretMissing, match="not a secret reference"):
        secret_value(SecretStore("/", {}), ref)
