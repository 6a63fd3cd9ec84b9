"""`tickwork api-key …` run as a user runs it: in a `tickwork dev` folder it uses that
folder's `./tickwork.db`; `--expires-at` sets an expiry the list shows."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from tickwork_api.keys import hash_key
from tickwork_shared.migrate import upgrade_to_head

from tests.harness.processes import TICKWORK

pytestmark = [pytest.mark.timeout(120)]


def tickwork(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "TICKWORK_DATABASE_URL"}
    environ.update(env)
    return subprocess.run(
        [TICKWORK, *args], cwd=folder, env=environ, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def dev_folder(tmp_path: Path) -> Path:
    """A folder holding a `tickwork dev` database (the schema as `tickwork dev` makes it)."""
    upgrade_to_head(f"sqlite+aiosqlite:///{tmp_path / 'tickwork.db'}")
    return tmp_path


def stored_keys(folder: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(folder / "tickwork.db") as db:
        return list(db.execute("SELECT name, key_hash, expires_at FROM api_keys ORDER BY id"))


def test_create_in_a_dev_folder_adds_the_key_to_its_database(dev_folder: Path) -> None:
    done = tickwork(dev_folder, "api-key", "create", "--name", "ci", "--role", "admin")
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip().splitlines()[-1]
    assert [(name, digest) for name, digest, _ in stored_keys(dev_folder)] == [
        ("ci", hash_key(key))
    ]


def test_an_explicit_database_url_wins_over_the_dev_folder(
    dev_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "other.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{elsewhere}")
    url = f"sqlite+aiosqlite:///{elsewhere}"
    done = tickwork(
        dev_folder, "api-key", "create", "--name", "x", "--role", "viewer",
        TICKWORK_DATABASE_URL=url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert stored_keys(dev_folder) == []
    with sqlite3.connect(elsewhere) as db:
        assert [row[0] for row in db.execute("SELECT name FROM api_keys")] == ["x"]


def test_expiry_is_set_listed_and_revocation_shown(dev_folder: Path) -> None:
    done = tickwork(
        dev_folder, "api-key", "create", "--name", "temp", "--role", "viewer",
        "--expires-at", "2099-01-02T03:04:05+02:00",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "expires 2099-01-02T01:04:05Z" in done.stderr
    assert stored_keys(dev_folder)[0][2] is not None
    assert tickwork(dev_folder, "api-key", "revoke", "1").returncode == 0
    listing = tickwork(dev_folder, "api-key", "list")
    assert listing.returncode == 0, listing.stderr
    header, row = listing.stdout.strip().splitlines()
    assert "expires" in header
    assert "last used" in header
    fields = row.split("\t")
    assert fields[1:3] == ["temp", "viewer"]
    assert fields[4].startswith("revoked ")
    assert fields[5] == "2099-01-02T01:04:05Z"
    assert fields[6] == "never"


@pytest.mark.parametrize(
    ("value", "message"),
    [("next week", "not an ISO 8601 time"), ("2099-01-02T03:04:05", "offset")],
)
def test_a_bad_expiry_is_refused_as_usage(dev_folder: Path, value: str, message: str) -> None:
    done = tickwork(
        dev_folder, "api-key", "create", "--name", "x", "--role", "viewer", "--expires-at", value
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert stored_keys(dev_folder) == []


def test_an_expiry_in_the_past_is_refused(dev_folder: Path) -> None:
    done = tickwork(
        dev_folder, "api-key", "create", "--name", "x", "--role", "viewer",
        "--expires-at", "2001-01-01",
    )  # fmt: skip
    assert done.returncode == 1
    assert "expiresAt: must be in the future" in done.stderr
    assert "Traceback" not in done.stderr


def test_dev_creates_its_database_private(tmp_path: Path) -> None:
    from tickwork.dev import create_private_database

    old = os.umask(0o022)
    try:
        path = create_private_database(tmp_path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o640)  # an operator's own choice for an existing file is kept
    create_private_database(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o640
