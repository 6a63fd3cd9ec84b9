"""Hostile input for the api (drill 8): hand-written requests and a schemathesis run.

The rule for every answer: never a 5xx; a 4xx carries a JSON body whose `detail` is a
non-empty message (and a 422 names the fields at fault in `errors`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from schemathesis.checks import not_a_server_error

from tests.harness.fuzzing import fuzz_operations

HUGE = 5 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def verdict(status: int, body: bytes, content_type: str) -> str | None:
    """What is wrong with an answer, or None (see the module docstring)."""
    if status >= 500:
        return f"server error {status}"
    if status < 400:
        return None
    if "json" not in content_type:
        return f"{status} without a JSON body ({content_type!r})"
    try:
        data = httpx.Response(status, content=body).json()
    except ValueError:
        return f"{status} with a body that is not JSON"
    detail = data.get("detail") if isinstance(data, dict) else None
    if not isinstance(detail, str) or not detail.strip():
        return f"{status} without a message in `detail`: {body[:300]!r}"
    if status == 422:
        errors = data.get("errors")
        if not errors or not all(e.get("field") and e.get("message") for e in errors):
            return f"422 without the fields at fault: {body[:300]!r}"
    return None


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"a": value}
    return value


def hand_written(job_id: int, execution_id: str, key: str) -> Iterator[Case]:
    """Requests no client should send; every one must get a clean 4xx (or a 2xx)."""
    job = {"name": "hostile", "taskFunction": "tickwork.noop", "args": {}}
    interval = {"kind": "interval", "seconds": 60}
    auth = {"Authorization": f"Bearer {key}"}
    yield Case("huge body", "POST", "/api/v1/jobs", {"json": {**job, "args": {"x": "y" * HUGE}}})
    yield Case(
        "huge description",
        "POST",
        "/api/v1/jobs",
        {"json": {**job, "schedule": interval, "description": "d" * HUGE}},
    )
    deep = b'{"name": "deep", "args": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}"
    yield Case(
        "deep JSON (100,000 levels)",
        "POST",
        "/api/v1/jobs",
        {"content": deep, "headers": {"Content-Type": "application/json"}},
    )
    yield Case(
        "deep args (500 levels)",
        "POST",
        "/api/v1/jobs",
        {"json": {**job, "schedule": interval, "args": _nested(500)}},
    )
    yield Case("deep schedule", "POST", "/api/v1/jobs", {"json": {**job, "schedule": _nested(500)}})
    for label, name in {
        "emoji": "job-\U0001f600-\U0001f680-\U0001d518\U0001d52b\U0001d526",
        "right-to-left": "وظيفة-עבודה",
        "combining marks": "Z̷̢a̶l̵g̸o̴",
        "NUL": "nul\u0000byte",
        "lone surrogate": "\ud800",
        "only spaces": "   ",
        "very long": "n" * 10_000,
        "SQL": "x'); DROP TABLE scheduled_jobs; --",
    }.items():
        # json.dumps escapes what UTF-8 cannot carry (a lone surrogate): valid JSON text.
        content = json.dumps({**job, "schedule": interval, "name": name}).encode()
        yield Case(
            f"name: {label}",
            "POST",
            "/api/v1/jobs",
            {"content": content, "headers": {"Content-Type": "application/json"}},
        )
    for label, search in {
        "quote": "' OR '1'='1",
        "comment": "x'; --",
        "union": "' UNION SELECT key_hash FROM api_keys --",
        "wildcards": "%_%\\",
        "NUL": "\x00",
        "long": "s" * 10_000,
        "beyond the request-line limit": "s" * 60_000,
    }.items():
        yield Case(f"search: {label}", "GET", "/api/v1/jobs", {"params": {"search": search}})
    for page, per_page in [
        (1, 10**30),
        (1, 0),
        (1, -1),
        (1, 101),
        (0, 20),
        (-1, 20),
        (10**30, 20),
        (2**63, 100),
        (2**31, 100),
        ("one", 20),
        (1, "1e3"),
        (1.5, 20),
    ]:
        for path in ("/api/v1/jobs", "/api/v1/executions", "/api/v1/task-functions"):
            yield Case(
                f"page={page} perPage={per_page} on {path}",
                "GET",
                path,
                {"params": {"page": page, "perPage": per_page}},
            )
    for value in (
        "2026-13-45",
        "99999-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "yesterday",
        "2026-01-01T00:00:00+25:00",
        "1" * 1000,
    ):
        yield Case(f"since={value[:20]}", "GET", "/api/v1/executions", {"params": {"since": value}})
    for bad_id in ("99999999999999999999999", "-1", "0", "1 OR 1=1", "1e3", "%00", "9" * 5000):
        yield Case(f"job id {bad_id[:20]}", "GET", f"/api/v1/jobs/{bad_id}")
        yield Case(f"trigger id {bad_id[:20]}", "POST", f"/api/v1/jobs/{bad_id}/trigger")
        yield Case(f"history id {bad_id[:20]}", "GET", f"/api/v1/jobs/{bad_id}/executions")
    for count in (0, -5, 101, 10**9, 10**30):
        yield Case(
            f"next-runs count={count}",
            "GET",
            f"/api/v1/jobs/{job_id}/next-runs",
            {"params": {"count": count}},
        )
    for bad in ("x" * 5000, "../../etc/passwd", "' OR 1=1 --", execution_id.upper()):
        yield Case(f"execution id {bad[:20]}", "GET", f"/api/v1/executions/{bad}")
        yield Case(f"cancel id {bad[:20]}", "POST", f"/api/v1/executions/{bad}/cancel")
    for label, schedule in {
        "cron */0": {"kind": "cron", "expression": "*/0 * * * *", "timezone": "UTC"},
        "cron 7 fields": {"kind": "cron", "expression": "* * * * * * *", "timezone": "UTC"},
        "cron huge": {"kind": "cron", "expression": "1," * 5000 + "1 * * * *", "timezone": "UTC"},
        "cron 99": {"kind": "cron", "expression": "99 99 99 99 99", "timezone": "UTC"},
        "zone path": {"kind": "cron", "expression": "* * * * *", "timezone": "../../etc/passwd"},
        "zone NUL": {"kind": "cron", "expression": "* * * * *", "timezone": "UTC\u0000"},
        "interval 0": {"kind": "interval", "seconds": 0},
        "interval huge": {"kind": "interval", "seconds": 10**30},
        "interval float": {"kind": "interval", "seconds": 1.5},
        "interval start year 1": {
            "kind": "interval",
            "seconds": 1,
            "startAt": "0001-01-01T00:00:00Z",
        },
        "interval start year 9999": {
            "kind": "interval",
            "seconds": 1,
            "startAt": "9999-12-31T23:59:59Z",
        },
        "date far past": {"kind": "date", "runAt": "0001-01-01T00:00:00Z"},
        "date far future": {"kind": "date", "runAt": "9999-12-31T23:59:59Z"},
        "unknown kind": {"kind": "sometimes"},
        "not an object": [1, 2, 3],
    }.items():
        yield Case(
            f"schedule: {label}", "POST", "/api/v1/jobs", {"json": {**job, "schedule": schedule}}
        )
    bad_fields: dict[str, dict[str, Any]] = {
        "priority 2**64": {"priority": 2**64},
        "maxRetries -1": {"maxRetries": -1},
        "timeoutSeconds 1e308": {"timeoutSeconds": 1e308},
        "jitter huge": {"jitterSeconds": 10**20},
        "grace negative": {"misfireGraceSeconds": -10},
        "unknown policy": {"overlapPolicy": "sometimes"},
        "jobTypeId huge": {"jobTypeId": 2**70},
        "args a list": {"args": [1, 2]},
        "unknown field": {"unknownField": 1},
    }
    for label, fields in bad_fields.items():
        yield Case(
            f"job: {label}",
            "POST",
            "/api/v1/jobs",
            {"json": {**job, "schedule": interval, **fields}},
        )
    yield Case(
        "PATCH version huge", "PATCH", f"/api/v1/jobs/{job_id}", {"json": {"version": 2**70}}
    )
    yield Case("PATCH null name", "PATCH", f"/api/v1/jobs/{job_id}", {"json": {"name": None}})
    for label, content in {
        "not JSON": b"name=hostile",
        "empty": b"",
        "JSON null": b"null",
        "JSON array": b"[]",
        "NaN": b'{"name": "n", "taskFunction": "tickwork.noop", "args": {"x": NaN}}',
        "invalid UTF-8": b'{"name": "\xff\xfe"}',
        "trailing garbage": b'{"name": "n"} garbage',
    }.items():
        yield Case(
            f"body: {label}",
            "POST",
            "/api/v1/jobs",
            {"content": content, "headers": {"Content-Type": "application/json"}},
        )
    yield Case("body as form", "POST", "/api/v1/jobs", {"data": {"name": "form"}})
    yield Case("wrong method", "PUT", "/api/v1/jobs")
    yield Case("unknown path", "GET", "/api/v1/no-such-thing")
    yield Case(
        "huge key", "GET", "/api/v1/jobs", {"headers": {"Authorization": "Bearer " + "k" * 20_000}}
    )
    yield Case(
        "not bearer", "GET", "/api/v1/jobs", {"headers": {"Authorization": "Basic Zm9vOmJhcg=="}}
    )
    yield Case(
        "non-ASCII key",
        "GET",
        "/api/v1/jobs",
        {"headers": {"Authorization": "Bearer clé-ünïcødé".encode()}},
    )
    yield Case(
        "job type: SQL name",
        "POST",
        "/api/v1/job-types",
        {"json": {"name": "t'; DROP TABLE job_types; --"}, "headers": auth},
    )


def fuzz(
    base_url: str, key: str, seeded: dict[str, Any], max_examples: int
) -> tuple[int, list[str]]:
    """schemathesis over every operation: no 5xx, and every 4xx a clear JSON answer; how
    many calls were made and the failures, one line each. Blocking: run it in a thread."""

    def check(case: schemathesis.Case[Any], headers: dict[str, str]) -> None:
        response = case.call(base_url=base_url, headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
        types = response.headers.get("content-type") or response.headers.get("Content-Type")
        problem = verdict(response.status_code, response.content, (types or [""])[0])
        assert problem is None, f"{case.method} {case.formatted_path}: {problem}"

    return fuzz_operations(
        base_url, key, seeded, max_examples=max_examples, check=check, error_chars=1500
    )
