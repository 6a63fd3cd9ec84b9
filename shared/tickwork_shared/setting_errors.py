"""A bad environment explained: one line per wrong `TICKWORK_*` variable, and a warning for
one that no setting reads (a typo).

Everything here is derived from the `Settings` fields (their type and `Field` bounds) and
from pydantic's `ValidationError`, so a new setting is explained without new text. Pure:
the environment is passed in.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from tickwork_shared.errors import ConfigurationError
from tickwork_shared.logs import redact

ENV_PREFIX = "TICKWORK_"

NOT_SETTINGS_PREFIXES = (
    "TICKWORK_TEST_",  # the test suite's servers (tests/fixtures)
    "TICKWORK_BENCH_",  # bench/ scripts
    "TICKWORK_DRILL",  # scripts/drills (TICKWORK_DRILLS, TICKWORK_DRILL_LEDGER)
    "TICKWORK_SECRET_",  # secrets given to task functions by name
)
NOT_SETTINGS_NAMES = frozenset(
    {
        "TICKWORK_API_URL",  # the client command line: which api to talk to
        "TICKWORK_API_KEY",  # ... and with which key
        "TICKWORK_IMAGE",  # compose.yaml: the image to run
        "TICKWORK_API_PUBLISH",  # compose.yaml: the host port of the api
        "TICKWORK_SERVICES",  # deploy scripts: which services to start
    }
)
"""`TICKWORK_*` variables that are read elsewhere than `Settings`, so never a typo."""

_SHOWN_INPUT_CHARS = 60


class SettingsInvalid(ConfigurationError):
    """One or more `TICKWORK_*` variables have values their setting cannot take."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def settings_problems(error: ValidationError, model: type[BaseModel]) -> list[str]:
    """One line per invalid setting: its variable, what it must be, what it got."""
    problems: list[str] = []
    seen: set[str] = set()
    for detail in error.errors(include_url=False):
        loc = detail.get("loc") or ()
        name = str(loc[0]) if loc else ""
        field = model.model_fields.get(name)
        if field is None:
            problems.append(f"settings: {detail.get('msg', 'invalid')}")
            continue
        if name in seen:  # a union reports one error per member; one line is enough
            continue
        seen.add(name)
        reason = (detail.get("ctx") or {}).get("error")
        if detail.get("type") == "value_error" and isinstance(reason, ValueError):
            # A validator's own check (`amqp_url`): its message names the setting and why.
            text = str(reason)
            problems.append(text if env_name(name) in text else f"{env_name(name)}: {text}")
            continue
        got = _shown(detail.get("input"))
        problems.append(f"{env_name(name)} must be {describe_field(field)}, got {got}")
    return problems


def describe_field(field: FieldInfo) -> str:
    """What a value must be, in words: "an integer from 1 to 1024", "one of 'json', 'human'"."""
    annotation = field.annotation
    optional = False
    args = typing.get_args(annotation)
    if _is_union(annotation) and type(None) in args:
        optional = True
        members = [arg for arg in args if arg is not type(None)]
        annotation = members[0] if len(members) == 1 else annotation
    text = _describe_type(annotation) + _describe_bounds(field.metadata)
    return f"{text} (or unset)" if optional else text


def _is_union(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin is typing.Union or origin is types.UnionType


def _describe_type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(value) for value in typing.get_args(annotation))
    if origin is list:
        return "a comma-separated list"
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "an integer"
    if annotation is float:
        return "a number"
    if annotation is str:
        return "a string"
    return f"a valid {getattr(annotation, '__name__', str(annotation))}"


def _describe_bounds(metadata: Iterable[Any]) -> str:
    bounds: dict[str, Any] = {}
    for item in metadata:
        for kind in ("ge", "gt", "le", "lt"):
            value = getattr(item, kind, None)
            if value is not None and isinstance(item, annotated_types.BaseMetadata):
                bounds[kind] = value
    low_inclusive, high_inclusive = bounds.get("ge"), bounds.get("le")
    if low_inclusive is not None and high_inclusive is not None:
        return f" from {low_inclusive} to {high_inclusive}"
    parts = []
    if low_inclusive is not None:
        parts.append(f"at least {low_inclusive}")
    if "gt" in bounds:
        parts.append(f"greater than {bounds['gt']}")
    if high_inclusive is not None:
        parts.append(f"at most {high_inclusive}")
    if "lt" in bounds:
        parts.append(f"less than {bounds['lt']}")
    return " " + " and ".join(parts) if parts else ""


def _shown(value: object) -> str:
    """The offending value, quoted, cut short, with any URL password masked."""
    text = redact(value if isinstance(value, str) else repr(value))
    if len(text) > _SHOWN_INPUT_CHARS:
        text = text[:_SHOWN_INPUT_CHARS] + "…"
    return repr(text)


def unknown_variables(environ: Mapping[str, str], model: type[BaseModel]) -> list[str]:
    """A warning for each `TICKWORK_*` variable that no setting reads, naming the closest."""
    known = [env_name(name) for name in model.model_fields]
    warnings = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        if upper in NOT_SETTINGS_NAMES or upper.startswith(NOT_SETTINGS_PREFIXES):
            continue
        # Compared without the prefix every name shares, which would make all look close.
        suffixes = [name[len(ENV_PREFIX) :] for name in known]
        close = difflib.get_close_matches(upper[len(ENV_PREFIX) :], suffixes, n=1, cutoff=0.6)
        hint = f"; did you mean {ENV_PREFIX}{close[0]}?" if close else ""
        warnings.append(f"{variable} is not a tickwork setting and is ignored{hint}")
    return warnings
