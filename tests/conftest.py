"""The suite's plugins, and a marker on every test for the folder it lives in."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures.database", "tests.fixtures.amqp", "tests.drills.plugin"]

TESTS = Path(__file__).parent
# Registered in pyproject.toml (pytest runs with --strict-markers).
FOLDER_MARKERS = frozenset({"unit", "integration", "e2e", "drills", "deploy"})


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by these markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not item.path.is_relative_to(TESTS):
            continue
        folder = item.path.relative_to(TESTS).parts[0]
        if folder in FOLDER_MARKERS:
            item.add_marker(folder)
