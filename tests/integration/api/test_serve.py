"""`tickwork_api.main.serve` as a process (`run_service`): ready on its port, clean exit
on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import httpx
import pytest

from tests.harness.api_client import is_ready
from tests.harness.waiting import wait_until

pytestmark = pytest.mark.timeout(120)

SERVE = """
from functools import partial
from tickwork_api.main import serve
from tickwork_shared.lifecycle import run_service
from tickwork_shared.settings import Settings
raise SystemExit(run_service(partial(serve, Settings()), name="api"))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_serve_answers_ready_and_stops_cleanly_on_sigterm(
    mariadb_url: str, amqp_url: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TICKWORK_DATABASE_URL": mariadb_url,
        "TICKWORK_AMQP_URL": amqp_url,
        "TICKWORK_API_HOST": "127.0.0.1",
        "TICKWORK_API_PORT": str(port),
    }
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVE, env=env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await wait_until(lambda: is_ready(client), timeout=30, what="the api's /ready")
            assert (await client.get("/api/v1/jobs")).status_code == 401
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
