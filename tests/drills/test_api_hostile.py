"""Drill 8: hostile input for the api process (against MariaDB and RabbitMQ).

Hand-written requests (huge bodies, deep JSON, unicode and NUL bytes, SQL-looking
strings, absurd paging and ids, broken schedules and bodies) and, at full scale, a
schemathesis run with a larger example budget than the regular suite's. Every answer:
no 5xx, and every 4xx says what is wrong (`hostile.verdict`). The api stays up.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass

import httpx
import pytest

from tests.drills.hostile import fuzz, hand_written, verdict
from tests.drills.launch import Topology, open_drill
from tests.drills.plugin import at_scales
from tests.drills.tasks import TASK_NAME
from tests.harness.api_client import NEVER_DUE


@dataclass(frozen=True)
class Scale:
    fuzz_examples: int
    """schemathesis examples per operation (0: hand-written cases only)."""


@at_scales(small=Scale(fuzz_examples=0), full=Scale(fuzz_examples=300), timeout=1800)
async def test_api_hostile_input(request: pytest.FixtureRequest, scale: Scale) -> None:
    async with open_drill(request, "api_hostile", Topology(planners=1, executors=1)) as drill:
        job = await drill.api.create_job(
            f"{drill.name}-seed",
            taskFunction=TASK_NAME,
            args={},
            schedule=NEVER_DUE,
            overlapPolicy="allow",
        )
        accepted = await drill.api.ok("POST", f"/jobs/{job['id']}/trigger", 202)
        job_type = await drill.api.ok("POST", "/job-types", 201, json={"name": "hostile-seed"})
        channel = await drill.api.ok(
            "POST",
            "/notification-channels",
            201,
            json={"name": "hostile-seed", "kind": "slack", "url": "https://hooks.example.com/x"},
        )

        statuses: Counter[int] = Counter()
        problems: list[str] = []
        cases = list(hand_written(job["id"], accepted["executionId"], drill.api.key))
        started = time.monotonic()
        async with httpx.AsyncClient(
            base_url=drill.api.base_url,
            headers={"Authorization": f"Bearer {drill.api.key}"},
            timeout=60,
        ) as http:
            for case in cases:
                response = await http.request(case.method, case.path, **case.kwargs)
                statuses[response.status_code] += 1
                problem = verdict(
                    response.status_code, response.content, response.headers.get("content-type", "")
                )
                if problem:
                    problems.append(f"{case.name} ({case.method} {case.path[:60]}): {problem}")
        hand_seconds = time.monotonic() - started

        calls, fuzz_failures = 0, list[str]()
        if scale.fuzz_examples:
            spare = await drill.api.ok(
                "POST", "/api-keys", 201, json={"name": "hostile-spare", "role": "viewer"}
            )
            seeded = {
                "jobId": job["id"],
                "jobTypeId": job_type["id"],
                "executionId": accepted["executionId"],
                "apiKeyId": spare["id"],
                "name": job["name"],
                "channelId": channel["id"],
            }
            calls, fuzz_failures = await asyncio.to_thread(
                fuzz, drill.api.base_url, drill.api.key, seeded, scale.fuzz_examples
            )
        health = await drill.api.http.get(f"{drill.api.base_url}/health")
        for name, value, unit in [
            ("hand_written_cases", len(cases), "requests"),
            ("hand_written_seconds", round(hand_seconds, 1), "s"),
            ("answers_4xx", sum(n for s, n in statuses.items() if 400 <= s < 500), "responses"),
            ("answers_5xx", sum(n for s, n in statuses.items() if s >= 500), "responses"),
            ("unclear_or_failed", len(problems), "responses"),
            ("schemathesis_calls", calls, "requests"),
            ("schemathesis_failures", len(fuzz_failures), "operations"),
        ]:
            drill.figure(name, value, unit)
        assert not problems, "\n".join(problems)
        assert not fuzz_failures, "\n\n".join(fuzz_failures)
        assert health.status_code == 200, "the api is still up"
