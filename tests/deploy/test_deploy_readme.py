"""deploy/README.md explains every setting an operator can turn."""

from __future__ import annotations

from tickwork_shared.settings import Settings

from tests.deploy.layout import ROOT


def test_every_setting_is_documented_for_operators() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text()
    missing = [
        f"TICKWORK_{name.upper()}"
        for name in Settings.model_fields
        if f"`TICKWORK_{name.upper()}`" not in readme
    ]
    assert not missing, f"deploy/README.md's settings table lacks {missing}"
