"""The Alembic revisions this code ships, read from the migration files without importing
Alembic: every service compares the database's revision with them at start, and Alembic's
import would add seconds to each start on a busy host. `tests/unit/test_schema_versions.py`
holds this to Alembic's own answer.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

VERSIONS = Path(__file__).parent / "migrations" / "versions"


def _assigned(tree: ast.Module, name: str) -> object:
    for node in tree.body:
        target = None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        if target == name and value is not None:
            return ast.literal_eval(value)
    return None


def _as_set(value: object) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {value}
    if isinstance(value, list | tuple):
        return {str(item) for item in value}
    raise ValueError(f"unexpected down_revision {value!r}")


@cache
def known_revisions(folder: Path = VERSIONS) -> tuple[frozenset[str], frozenset[str]]:
    """(heads, every revision) of the migrations in `folder`."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        revision = _assigned(tree, "revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        parents |= _as_set(_assigned(tree, "down_revision"))
    return frozenset(revisions - parents), frozenset(revisions)
