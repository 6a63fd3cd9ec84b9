"""deploy/Dockerfile read by the `dockerfile` package (BuildKit's own parser), per stage."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile


@dataclass
class Stage:
    image: str
    """The FROM image with global ARG defaults filled in."""
    name: str | None
    commands: list[dockerfile.Command] = field(default_factory=list)

    def all(self, instruction: str) -> list[dockerfile.Command]:
        return [c for c in self.commands if c.cmd.upper() == instruction]

    def last(self, instruction: str) -> dockerfile.Command | None:
        found = self.all(instruction)
        return found[-1] if found else None


def _substitute(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m[1], m[0]), text)


def stages(path: Path) -> list[Stage]:
    args: dict[str, str] = {}
    result: list[Stage] = []
    for command in dockerfile.parse_file(str(path)):
        if command.cmd.upper() == "ARG" and not result:
            name, _, default = command.value[0].partition("=")
            args[name] = default
        elif command.cmd.upper() == "FROM":
            values = [v for v in command.value]
            name = values[2] if len(values) == 3 and values[1].upper() == "AS" else None
            result.append(Stage(_substitute(values[0], args), name))
        elif result:
            result[-1].commands.append(command)
    return result
