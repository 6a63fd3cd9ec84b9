"""`PrintableName`: the one type of every name a user gives (jobs, job types, API keys).

Names end up in terminals, logs, audit entries and Prometheus labels (job types), so
they may not carry what a reader cannot see: control characters (Unicode category Cc:
NUL, ANSI escape, newline) and format characters (Cf: zero-width space and joiners,
right-to-left override, soft hyphen). Such a name is refused (422 naming the field)
rather than cleaned, so what is stored is exactly what was sent.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

HIDDEN_CATEGORIES = frozenset({"Cc", "Cf"})


def hidden_character(value: str) -> str | None:
    """The first control or format character of `value`, as `U+XXXX`, or None."""
    for char in value:
        if unicodedata.category(char) in HIDDEN_CATEGORIES:
            return f"U+{ord(char):04X}"
    return None


def refuse_hidden_characters(value: str) -> str:
    found = hidden_character(value)
    if found is not None:
        raise ValueError(f"must not contain control or format characters (found {found})")
    return value


PrintableName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    AfterValidator(refuse_hidden_characters),
]
"""A name (outer whitespace stripped, not empty) whose every character is visible; each
use adds its length bound, e.g. `Annotated[PrintableName, Field(max_length=200)]`."""
