"""Which files `docker build` sends, by the .dockerignore rules (last matching line wins;
a pattern that matches a folder matches everything in it; `**` spans folders)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

SKIPPED_FOLDERS = {".git", ".venv", "node_modules"}
"""Walked past for speed; `excluded` is still asked about them (tests check it)."""


def _regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


class DockerIgnore:
    def __init__(self, text: str) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
            self.rules.append((negated, _regex(pattern)))

    def excluded(self, path: str) -> bool:
        parts = path.split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        result = False
        for negated, regex in self.rules:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                result = not negated
        return result

    def context(self, root: Path) -> Iterator[str]:
        """Relative paths of the files in the build context of `root`."""
        for folder, folders, files in os.walk(root):
            folders[:] = sorted(f for f in folders if f not in SKIPPED_FOLDERS)
            for name in sorted(files):
                relative = (Path(folder) / name).relative_to(root).as_posix()
                if not self.excluded(relative):
                    yield relative
