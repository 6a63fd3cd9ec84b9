"""What tickwork never shows whole: values under secret-looking keys, URL credentials.

One pure module for every place that answers or records a job's arguments or a run's
outcome (REST for non-admin keys, events, audit entries, execution errors and results,
logs), so they all agree on what looks like a secret.

A key looks secret when, lower-cased and without `-` and `_`, it contains one of
`authorization`, `password`, `passwd`, `token`, `secret`, `apikey` (so `Authorization`,
`X-Api-Key`, `client_secret`, `access_token`, `dbPassword` all do). A secret reference
`{"$secret": NAME}` is not a secret and is shown as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from tickwork_shared.secret_refs import is_reference

MASK = "***"
SECRET_WORDS = ("authorization", "password", "passwd", "token", "secret", "apikey")
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/\s@\"'<>]+@", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    normal = key.lower().replace("-", "").replace("_", "")
    return any(word in normal for word in SECRET_WORDS)


def mask_args(value: Any) -> Any:
    """`value` (a job's args, or any JSON) with the value of every secret-looking key, at
    any depth, replaced by `"***"`; a new structure, the input is left as it was."""
    stack: list[tuple[Any, Any]] = []
    root = _copy_level(value)
    stack.append((value, root))
    while stack:
        source, target = stack.pop()
        if is_reference(source):
            continue  # `{"$secret": NAME}` names a secret, it is none
        if isinstance(source, Mapping):
            for key, child in source.items():
                if isinstance(key, str) and is_secret_key(key) and not is_reference(child):
                    target[key] = MASK
                elif isinstance(child, Mapping | list):
                    target[key] = _copy_level(child)
                    stack.append((child, target[key]))
        elif isinstance(source, list):
            for index, child in enumerate(source):
                if isinstance(child, Mapping | list):
                    target[index] = _copy_level(child)
                    stack.append((child, target[index]))
    return root


def _copy_level(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def strip_url_credentials(text: str) -> str:
    """`text` with the `user:password@` of every URL in it removed."""
    if "://" not in text or "@" not in text:
        return text
    return _URL_USERINFO.sub(r"\g<scheme>", text)


def strip_credentials_deep(value: Any) -> Any:
    """`strip_url_credentials` on every string in a JSON value (keys included)."""
    text = json.dumps(value)
    cleaned = strip_url_credentials(text)
    if cleaned == text:
        return value
    try:
        return json.loads(cleaned)
    except ValueError:
        return cleaned
