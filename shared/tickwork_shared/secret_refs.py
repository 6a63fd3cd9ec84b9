"""Secret references `{"$secret": "NAME"}`: stored and shown as written, resolved only
where they are used, from `TICKWORK_SECRETS_DIR/NAME` (a file, e.g. a mounted Kubernetes
Secret) or the environment variable `TICKWORK_SECRET_<NAME>`.

Small on purpose: the notifier resolves its webhook secrets with it; the executor's
argument resolution can use the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REF_KEY = "$secret"  # the one key of a reference, not a secret
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
"""A secret's name: a file name and an environment suffix; no path separators."""


class SecretMissing(LookupError):
    """A referenced secret is in neither the secrets folder nor the environment."""


def is_secret_ref(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and set(value) == {REF_KEY}
        and isinstance(value[REF_KEY], str)
        and NAME_PATTERN.match(value[REF_KEY]) is not None
    )


def resolve_secret(
    ref: Mapping[str, Any], *, secrets_dir: str | None, environ: Mapping[str, str]
) -> str:
    """The value of `ref`: the file `secrets_dir/NAME` (trailing newline dropped) first,
    then `TICKWORK_SECRET_<NAME>`. Raises `SecretMissing` naming the secret, never a value."""
    if not is_secret_ref(ref):
        raise SecretMissing(f'not a secret reference: expected {{"{REF_KEY}": "NAME"}}')
    name = str(ref[REF_KEY])
    if secrets_dir:
        path = Path(secrets_dir) / name
        if path.is_file():
            return path.read_text(encoding="utf-8").rstrip("\r\n")
    value = environ.get(f"TICKWORK_SECRET_{name}")
    if value is not None:
        return value
    raise SecretMissing(f"secret {name!r} not found (TICKWORK_SECRETS_DIR or TICKWORK_SECRET_*)")
