"""A thin REST client for process tests: the API as a user's script would call it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.harness.waiting import wait_until

# A schedule that never fires by itself: its jobs run when triggered.
NEVER_DUE = {"kind": "interval", "seconds": 3600, "startAt": "2099-01-01T00:00:00Z"}


def unique_name(prefix: str) -> str:
    """A job name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Api:
    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.key = key
        self.http = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=15
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.request(method, f"/api/v1{path}", **kwargs)

    async def ok(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = await self.call(method, path, **kwargs)
        assert response.status_code == expect, (
            f"{method} {path}: {response.status_code} {response.text}"
        )
        return response.json() if response.content else None

    async def create_job(self, name: str, **fields: Any) -> dict[str, Any]:
        body = {"taskFunction": "tickwork.noop", "args": {}, **fields, "name": name}
        job: dict[str, Any] = await self.ok("POST", "/jobs", 201, json=body)
        return job

    async def executions(self, job_id: int, **filters: Any) -> list[dict[str, Any]]:
        params = {"jobId": job_id, "perPage": 100, **filters}
        page = await self.ok("GET", "/executions", params=params)
        items: list[dict[str, Any]] = page["items"]
        return items

    async def wait_executions(
        self, job_id: int, *, count: int, status: str | None = None, timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Wait until the job has at least `count` executions (in `status`, if given)."""

        async def probe() -> list[dict[str, Any]]:
            found = await self.executions(job_id)
            matching = [e for e in found if status is None or e["status"] == status]
            return matching if len(matching) >= count else []

        return await wait_until(
            probe, timeout=timeout, what=f"{count} {status or ''} executions of job {job_id}"
        )

    async def wait_execution(
        self, execution_id: str, statuses: set[str], timeout: float = 30
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            execution: dict[str, Any] = await self.ok("GET", f"/executions/{execution_id}")
            return execution if execution["status"] in statuses else None

        return await wait_until(
            probe, timeout=timeout, what=f"execution {execution_id} to reach {statuses}"
        )


async def is_ready(http: httpx.AsyncClient) -> bool:
    """The api at `http`'s base URL answers `GET /ready` with 200 (False while unreachable)."""
    try:
        return (await http.get("/ready")).status_code == 200
    except httpx.HTTPError:
        return False


async def wait_ready(base_url: str, timeout: float = 60) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        await wait_until(lambda: is_ready(http), timeout=timeout, what=f"{base_url}/ready")
