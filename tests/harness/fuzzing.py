"""schemathesis over every operation of the live OpenAPI schema, the check left to the caller.

Each operation gets positive and negative cases, with path ids half the time those of
seeded rows (so happy paths are reached, not only 404s; always, for
`PINNED_PATH_PARAMETERS`), an admin key, and a bounded number of examples. Blocking:
run it in a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import hypothesis
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.result import Ok

CaseCheck = Callable[[schemathesis.Case[Any], dict[str, str]], None]
PINNED_PATH_PARAMETERS = frozenset({"apiKeyId"})
"""Always the seeded value: a generated API key id could be the fuzzing key's own, and
`DELETE /api-keys/{apiKeyId}` would revoke it, leaving the rest of the run at 401."""


def fuzz_operations(
    base_url: str,
    key: str,
    seeded: Mapping[str, Any],
    *,
    max_examples: int,
    check: CaseCheck,
    error_chars: int = 2000,
) -> tuple[int, list[str]]:
    """Run `check(case, headers)` on generated cases; how many ran, and the failures."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {key}"}
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the schema has an invalid operation: {result.err()}")
            continue
        operation = result.ok()
        fixed = {p.name: seeded[p.name] for p in operation.path_parameters}
        choices = [fixed] if PINNED_PATH_PARAMETERS & set(fixed) else [{}, fixed]
        strategies = [
            operation.as_strategy(mode, headers=headers, path_parameters=params)
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
            for params in choices
        ]

        @hypothesis.settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.generate],
        )
        @hypothesis.given(case=st.one_of(strategies))
        def run(case: schemathesis.Case[Any]) -> None:
            nonlocal calls
            calls += 1
            check(case, headers)

        try:
            run()
        except Exception as error:
            failures.append(f"{operation.label}: {str(error)[:error_chars]}")
    return calls, failures
