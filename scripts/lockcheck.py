"""Do the lock files (requirements/*.lock) still meet the pyproject files? Offline.

`scripts/lock --check` and `.ci/run` run this. For every requirement of every pyproject
(the runtime ones against runtime.lock and dev.lock, the root's `dev` extra against
dev.lock) whose marker holds on some supported platform, the lock must pin the package at
a version the requirement allows, and every pin must carry hashes. It needs no index:
a pyproject edited without `scripts/lock` fails here, on any machine.

Exit 0 when all agree; else 1, one line per disagreement and the command that fixes it.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECTS = [
    "pyproject.toml",
    "shared/pyproject.toml",
    "services/api/pyproject.toml",
    "services/planner/pyproject.toml",
    "services/executor/pyproject.toml",
    "clients/python/pyproject.toml",
]
OWN = {
    "tickwork",
    "tickwork-shared",
    "tickwork-api",
    "tickwork-planner",
    "tickwork-executor",
    "tickwork-client",
}
# The platforms the lock serves (scripts/lock resolves --universal for Python 3.11).
ENVIRONMENTS = [
    {"python_version": "3.11", "sys_platform": "linux", "platform_machine": machine}
    for machine in ("x86_64", "aarch64")
] + [{"python_version": "3.11", "sys_platform": "darwin", "platform_machine": "arm64"}]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def parse_lock(text: str) -> dict[str, tuple[Version, bool]]:
    """Package → (pinned version, has hashes), from `uv pip compile` output."""
    pins: dict[str, tuple[Version, bool]] = {}
    name: str | None = None
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match.group(1))
            pins[name] = (Version(match.group(2)), "--hash=" in line)
        elif name is not None and line.strip().startswith("--hash="):
            version, _ = pins[name]
            pins[name] = (version, True)
        elif not line.startswith((" ", "\t")):
            name = None
    return pins


def requirements_of(pyproject: Mapping[str, object]) -> tuple[list[str], list[str]]:
    """(runtime requirements, `dev` extra requirements) of a parsed pyproject."""
    project = pyproject.get("project", {})
    assert isinstance(project, dict)
    extras = project.get("optional-dependencies", {})
    return list(project.get("dependencies", [])), list(extras.get("dev", []))


def _applies(requirement: Requirement) -> bool:
    marker = requirement.marker
    return marker is None or any(marker.evaluate(dict(env)) for env in ENVIRONMENTS)


def disagreements(
    requirements: Iterable[tuple[str, str]],
    lock_name: str,
    pins: Mapping[str, tuple[Version, bool]],
) -> list[str]:
    """Each `(where, requirement)` the lock does not meet, as a sentence."""
    problems = []
    for where, text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name in OWN or not _applies(requirement):
            continue
        pinned = pins.get(name)
        if pinned is None:
            problems.append(f"{where}: {text!r} is not in {lock_name}")
        elif not requirement.specifier.contains(pinned[0], prereleases=True):
            problems.append(f"{where}: {text!r} but {lock_name} pins {name}=={pinned[0]}")
    problems += [
        f"{lock_name}: {name}=={version} has no hash"
        for name, (version, hashed) in pins.items()
        if not hashed
    ]
    return problems


def check(root: Path) -> list[str]:
    runtime: list[tuple[str, str]] = []
    dev: list[tuple[str, str]] = []
    for relative in PYPROJECTS:
        with (root / relative).open("rb") as handle:
            needs, dev_needs = requirements_of(tomllib.load(handle))
        runtime += [(relative, r) for r in needs]
        dev += [(f"{relative} [dev]", r) for r in dev_needs]
    locks = {}
    for lock_name in ("runtime.lock", "dev.lock"):
        path = root / "requirements" / lock_name
        if not path.is_file():
            return [f"requirements/{lock_name} is missing"]
        locks[lock_name] = parse_lock(path.read_text())
    problems = disagreements(runtime, "runtime.lock", locks["runtime.lock"])
    problems += disagreements(runtime + dev, "dev.lock", locks["dev.lock"])
    for name, (version, _) in locks["runtime.lock"].items():
        in_dev = locks["dev.lock"].get(name)
        if in_dev is not None and in_dev[0] != version:
            problems.append(f"dev.lock pins {name}=={in_dev[0]}, runtime.lock {version}")
    return problems


def main() -> int:
    problems = check(ROOT)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("the locks disagree with the pyproject files: run scripts/lock", file=sys.stderr)
        return 1
    print("requirements/*.lock agree with the pyproject files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
