"""Secret references in a job's `args`: `{"$secret": "NAME"}`, resolved only by an executor.

A job stores and shows the reference, never the value: the value lives with the executors
(a file `TICKWORK_SECRETS_DIR/NAME`, e.g. a mounted Kubernetes Secret, or the environment
variable `TICKWORK_SECRET_<NAME>`), so neither the database, the api, events nor the audit
log ever hold it.

Names: 1 to 128 characters of letters, digits, `_`, `-` and `.`, starting with a letter or
a digit (so a name is always a plain file name: no `/`, no `..`). The environment variable
of a name is `TICKWORK_SECRET_` + the name upper-cased with `-` and `.` as `_`
(`github-token` → `TICKWORK_SECRET_GITHUB_TOKEN`).

Pure: no I/O; `resolve` takes the lookup as a function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

REFERENCE_KEY = "$secret"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
ENV_PREFIX = "TICKWORK_SECRET_"

Path = tuple[str | int, ...]


class SecretNotFound(LookupError):
    """No value for a referenced secret (the executor fails the run: `SecretMissing`)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def is_reference(value: object) -> bool:
    """`value` is exactly `{"$secret": "<valid name>"}`."""
    return (
        isinstance(value, Mapping)
        and len(value) == 1
        and isinstance(name := value.get(REFERENCE_KEY), str)
        and NAME.fullmatch(name) is not None
    )


def env_name(name: str) -> str:
    """The environment variable an executor reads secret `name` from."""
    return ENV_PREFIX + re.sub(r"[-.]", "_", name).upper()


def reference_problems(value: object, path: Path = ()) -> list[tuple[Path, str]]:
    """Every object that uses `$secret` but is not a valid reference, by path."""
    problems: list[tuple[Path, str]] = []
    stack: list[tuple[Path, object]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, Mapping):
            if REFERENCE_KEY in item and not is_reference(item):
                problems.append(
                    (
                        (*where, REFERENCE_KEY),
                        'a secret reference is {"$secret": "NAME"} alone, NAME 1-128 letters, '
                        "digits, '_', '-' or '.' starting with a letter or digit",
                    )
                )
                continue
            stack.extend(((*where, str(k)), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend(((*where, i), v) for i, v in enumerate(item))
    return sorted(problems, key=lambda p: [str(part) for part in p[0]])


def references(value: object, path: Path = ()) -> list[tuple[Path, str]]:
    """(path, name) of every secret reference in `value`."""
    found: list[tuple[Path, str]] = []
    if is_reference(value):
        assert isinstance(value, Mapping)
        return [(path, value[REFERENCE_KEY])]
    if isinstance(value, Mapping):
        for key, child in value.items():
            found += references(child, (*path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += references(child, (*path, index))
    return found


def resolve(value: Any, lookup: Callable[[str], str | None]) -> Any:
    """`value` with every reference replaced by its secret; raises `SecretNotFound`."""
    if is_reference(value):
        name = value[REFERENCE_KEY]
        secret = lookup(name)
        if secret is None:
            raise SecretNotFound(name)
        return secret
    if isinstance(value, Mapping):
        return {key: resolve(child, lookup) for key, child in value.items()}
    if isinstance(value, list):
        return [resolve(child, lookup) for child in value]
    return value


def with_placeholders(value: Any, placeholder: str = "secret") -> Any:
    """`value` with every reference replaced by `placeholder` (for validating its shape)."""
    return resolve(value, lambda _name: placeholder)
