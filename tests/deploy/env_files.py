"""`NAME=value` files (.env for compose, secrets.env for kustomize's secretGenerator), and
checking the `TICKWORK_*` variables a deployment sets."""

from __future__ import annotations

from pathlib import Path

from tickwork_shared.settings import Settings


def read_env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


def assert_real_settings(env: dict[str, str], where: str) -> None:
    """Every `TICKWORK_*` variable in `env` names a setting and holds a valid value."""
    fields = {
        key.removeprefix("TICKWORK_").lower(): value
        for key, value in env.items()
        if key.startswith("TICKWORK_")
    }
    unknown = set(fields) - set(Settings.model_fields)
    assert not unknown, f"{where}: no such settings {unknown}"
    Settings.model_validate(fields)  # raises on a value of the wrong type or out of range
