"""What a fresh interpreter has imported after running some start-up code: the guard of
each service's import footprint (tests/unit/*/test_import_footprint.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterable


def modules_after(code: str) -> set[str]:
    """The names in `sys.modules` after `code` ran in a new interpreter of this venv (a
    subprocess: this test process has imported everything already)."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def loaded(modules: set[str], packages: Iterable[str]) -> list[str]:
    """Which of `packages` (a package or one of its submodules) `modules` holds."""
    return sorted(
        name
        for name in packages
        if any(module == name or module.startswith(name + ".") for module in modules)
    )


WEB_STACK = {
    "fastapi": "the api's framework",
    "starlette": "the api's framework",
    "uvicorn": "the api's server",
    "jinja2": "the web console's templates",
}
"""What only the api loads."""

OTHER_COMMANDS = {
    "alembic": "migrations: `tickwork migrate` only",
    "tickwork_client": "the client commands (`tickwork jobs|runs|apply`)",
    "yaml": "`tickwork apply` files",
    "opentelemetry.exporter": "trace exporters, when OTEL_* configures one",
    "aiosqlite": "SQLite runs only `tickwork dev`",
}
"""What no service loads at start: other commands, or features used only when set up."""


def assert_starts_without(code: str, *, ran: Iterable[str], absent: dict[str, str]) -> None:
    """Run the start-up `code` in a new interpreter; the modules of `ran` must be loaded
    (it did run), none of the packages of `absent` (name → why it must not be)."""
    modules = modules_after(code)
    assert set(ran) <= modules, sorted(set(ran) - modules)
    unexpected = loaded(modules, absent)
    assert unexpected == [], {name: absent[name] for name in unexpected}
