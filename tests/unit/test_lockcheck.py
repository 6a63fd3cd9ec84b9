"""The lock check (`scripts/lock --check`): the repository's locks meet its pyproject
files, and each kind of disagreement is caught, offline."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lockcheck", ROOT / "scripts" / "lockcheck.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lockcheck = _load()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the pyproject files and the locks, to break."""
    for relative in [*lockcheck.PYPROJECTS, "requirements/runtime.lock", "requirements/dev.lock"]:
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_repository_locks_agree_with_its_pyproject_files() -> None:
    assert lockcheck.check(ROOT) == []
    done = subprocess.run(
        [str(ROOT / "scripts" / "lock"), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_every_runtime_package_is_pinned_with_hashes() -> None:
    pins = lockcheck.parse_lock((ROOT / "requirements" / "runtime.lock").read_text())
    for needed in ("fastapi", "sqlalchemy", "aio-pika", "uvicorn", "swagger-ui-bundle"):
        assert needed in pins
    assert all(hashed for _, hashed in pins.values())
    assert "pytest" not in pins  # test tools stay out of the image


def test_a_dependency_added_without_relocking_is_caught(tree: Path) -> None:
    _edit(
        tree / "services/api/pyproject.toml",
        '"uvicorn>=0.30",',
        '"uvicorn>=0.30",\n    "rich>=13",',
    )
    problems = lockcheck.check(tree)
    assert any(
        "services/api/pyproject.toml: 'rich>=13' is not in runtime.lock" in p for p in problems
    )


def test_a_raised_lower_bound_the_pin_misses_is_caught(tree: Path) -> None:
    _edit(tree / "services/api/pyproject.toml", '"fastapi>=0.111"', '"fastapi>=999"')
    problems = lockcheck.check(tree)
    assert any("'fastapi>=999' but runtime.lock pins fastapi==" in p for p in problems)
    assert any("dev.lock pins fastapi==" in p for p in problems)


def test_a_new_test_tool_must_be_in_the_dev_lock(tree: Path) -> None:
    _edit(tree / "pyproject.toml", '"pytest>=8.2",', '"pytest>=8.2",\n    "pytest-xdist>=3",')
    problems = lockcheck.check(tree)
    assert problems == ["pyproject.toml [dev]: 'pytest-xdist>=3' is not in dev.lock"]


def test_a_dependency_for_another_platform_only_is_not_required(tree: Path) -> None:
    _edit(
        tree / "services/api/pyproject.toml",
        '"uvicorn>=0.30",',
        '"uvicorn>=0.30",\n    "pywin32>=300; sys_platform == \'win32\'",',
    )
    assert lockcheck.check(tree) == []


def test_a_pin_without_hashes_is_caught(tree: Path) -> None:
    lock = tree / "requirements/runtime.lock"
    lines = lock.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("alembic=="))
    end = start + 1
    while lines[end].strip().startswith("--hash="):
        end += 1
    lines[start:end] = [lines[start].rstrip(" \\")]
    lock.write_text("\n".join(lines) + "\n")
    problems = lockcheck.check(tree)
    assert any(p.startswith("runtime.lock: alembic==") and "no hash" in p for p in problems)


def test_a_missing_lock_is_caught(tree: Path) -> None:
    (tree / "requirements/dev.lock").unlink()
    assert lockcheck.check(tree) == ["requirements/dev.lock is missing"]
