"""docs/life-of-a-run.md stays true: every module path it names exists, and it walks
through every stage package of the executor."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "life-of-a-run.md"
PATH = re.compile(r"`((?:services|shared|tests|tickwork|clients)/[\w/.-]+\.py)`")
STAGES = ("intake", "claim", "run", "record")


def _named_paths() -> list[str]:
    return PATH.findall(PAGE.read_text())


def test_every_module_the_page_names_exists() -> None:
    named = _named_paths()
    assert len(named) >= 30, "the page names the modules a run passes through"
    missing = sorted({path for path in named if not (ROOT / path).is_file()})
    assert missing == [], f"docs/life-of-a-run.md names modules that do not exist: {missing}"


def test_the_page_walks_through_every_stage_of_the_executor() -> None:
    package = "services/executor/tickwork_executor"
    named = set(_named_paths())
    for stage in STAGES:
        assert (ROOT / package / stage / "__init__.py").is_file()
        assert any(path.startswith(f"{package}/{stage}/") for path in named), stage


def test_the_readme_links_the_page() -> None:
    assert "(docs/life-of-a-run.md)" in (ROOT / "README.md").read_text()
