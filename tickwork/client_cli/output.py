"""How client commands print: tables that fit the terminal (80 columns when not a
terminal), `-o json` for the api's JSON, progress on stderr only when it is a terminal."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from pydantic import BaseModel

GAP = "  "


@dataclass(frozen=True)
class Column:
    title: str
    flexible: bool = False
    """May be cut (with …) to fit the width."""
    minimum: int = 6
    """Cut no narrower than this; a column with minimum 0 is left out rather than cut
    narrower than its title."""


def width(stream: TextIO = sys.stdout) -> int:
    """The terminal's width, or 80 when the output is not a terminal."""
    if stream.isatty():
        return max(40, shutil.get_terminal_size((80, 24)).columns)
    return 80


def table(columns: Sequence[Column], rows: Sequence[Sequence[str]], *, limit: int = 80) -> str:
    """Rows under their titles, columns as wide as their widest cell; flexible columns are
    cut (widest first) until every line fits in `limit` characters."""
    widths = [
        max([len(column.title), *(len(row[i]) for row in rows)]) for i, column in enumerate(columns)
    ]
    excess = sum(widths) + len(GAP) * (len(columns) - 1) - limit
    while excess > 0:
        shrinkable = [
            i for i, c in enumerate(columns) if c.flexible and widths[i] > max(c.minimum, 1)
        ]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    kept = [i for i, c in enumerate(columns) if c.minimum > 0 or widths[i] >= len(c.title)]
    kept_widths = [widths[i] for i in kept]
    lines = [_line([columns[i].title for i in kept], kept_widths)]
    lines += [_line([row[i] for i in kept], kept_widths) for row in rows]
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return GAP.join(_fit(cell, w).ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()


def _fit(text: str, size: int) -> str:
    return text if len(text) <= size else text[: max(size - 1, 0)] + "…"


def fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """`key: value` lines, keys aligned (one object, e.g. `jobs get`)."""
    pad = max(len(key) for key, _ in pairs)
    return "\n".join(f"{key.ljust(pad)}  {show(value)}" for key, value in pairs)


def show(value: Any) -> str:
    """A value as a person reads it in a cell: times in UTC to the second, JSON compact."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def as_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> str:
    """The api's JSON (camelCase, times in UTC with `Z`), indented."""
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json", by_alias=True)
    elif isinstance(value, dict):
        data = value
    else:
        data = [item.model_dump(mode="json", by_alias=True) for item in value]
    return json.dumps(data, indent=2, ensure_ascii=False)


class Progress:
    """`label n/total` rewritten in place on stderr, only when stderr is a terminal."""

    def __init__(self, label: str, total: int, stream: TextIO = sys.stderr) -> None:
        self._label = label
        self._total = total
        self._stream = stream
        self._shown = stream.isatty() and total > 1

    def step(self, done: int) -> None:
        if self._shown:
            self._stream.write(f"\r{self._label} {done}/{self._total}")
            self._stream.flush()

    def close(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
