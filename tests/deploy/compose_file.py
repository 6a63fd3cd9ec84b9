"""compose.yaml as `docker compose` reads it: YAML (merge keys included), then `${…}`
interpolation with the Compose specification's rules."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

# $$ | ${NAME} | ${NAME:-default} | ${NAME-default} | ${NAME:?error} | ${NAME?error} | $NAME
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    """A required variable (`${NAME:?message}`) is unset, as `docker compose` reports it."""


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in _strings(key) + _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return []


def required_variables(path: Path) -> set[str]:
    """Names compose refuses to start without (`${NAME:?…}` / `${NAME?…}`)."""
    return {
        match["braced"]
        for text in _strings(load(path))
        for match in _VARIABLE.finditer(text)
        if match["op"] in {":?", "?"}
    }


def interpolate_text(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["plain"]
        value = env.get(name)
        op, arg = match["op"], match["arg"] or ""
        unset_or_empty = value is None or (op is not None and op.startswith(":") and not value)
        if op in {":-", "-"} and unset_or_empty:
            return arg
        if op in {":?", "?"} and unset_or_empty:
            raise InterpolationError(f"required variable {name} is missing: {arg}")
        return value or ""

    return _VARIABLE.sub(replace, text)


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """A copy of a loaded document with every string interpolated."""
    if isinstance(node, str):
        return interpolate_text(node, env)
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    return node


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's `environment`, in either of its two forms, as a mapping."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) for item in raw)
        return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def as_list(command: str | list[str] | None) -> list[str]:
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command]


def seconds(duration: str) -> float:
    """A compose duration (`45s`, `1m30s`, `500ms`) in seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a compose duration: {duration!r}")
    return sum(float(number) * units[unit] for number, unit in parts)
