"""The revisions read from the migration files are Alembic's own (heads and all)."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from tickwork_shared.migrate import alembic_config
from tickwork_shared.schema_versions import known_revisions


def test_the_same_heads_and_revisions_as_alembic() -> None:
    script = ScriptDirectory.from_config(alembic_config(""))
    heads, known = known_revisions()
    assert heads == frozenset(script.get_heads())
    assert known == frozenset(revision.revision for revision in script.walk_revisions())


def test_two_branches_give_two_heads(tmp_path: Path) -> None:
    for name, down in (("a1", None), ("b2", '"a1"'), ("c3", '"a1"'), ("d4", '("b2", "c3")')):
        (tmp_path / f"{name}.py").write_text(f'revision: str = "{name}"\ndown_revision = {down}\n')
    assert known_revisions(tmp_path) == (frozenset({"d4"}), frozenset({"a1", "b2", "c3", "d4"}))
    (tmp_path / "e5.py").write_text('revision = "e5"\ndown_revision = "b2"\n')
    known_revisions.cache_clear()
    heads, _ = known_revisions(tmp_path)
    assert heads == frozenset({"d4", "e5"})
