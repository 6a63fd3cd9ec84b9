"""An oversize body sent to a running api process: refused, and never held in memory.

`tickwork dev` runs as a process (its api is the production app); a 40 MB chunked body
without a key is streamed to it while its answer is read, and the process's resident
memory is compared before and after. Before the limit existed the api read and parsed
such a body whole (+200 MB for 45 MB).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.api_client import wait_ready
from tests.harness.processes import Proc, Stack, free_port

pytestmark = [pytest.mark.timeout(180)]

BODY_BYTES = 40 * 1024 * 1024
CHUNK = b"[" * (256 * 1024)
MAX_GROWTH = 16 * 1024 * 1024


def rss_bytes(proc: Proc) -> int:
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def dev_api(tmp_path: Path) -> Iterator[tuple[Proc, int, Path]]:
    port = free_port()
    stack = Stack(env={"TICKWORK_API_PORT": str(port)}, workdir=tmp_path)
    with stack.running():
        yield stack.start("dev", "dev"), port, tmp_path


async def send_chunked(port: int, path: str) -> tuple[int, int]:
    """POST `BODY_BYTES` chunked while reading the answer; its status and the bytes sent
    before it came (the server may stop reading, so sending stops at the answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    )
    sent = 0

    async def send() -> None:
        nonlocal sent
        try:
            while sent < BODY_BYTES:
                writer.write(f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n")
                await writer.drain()
                sent += len(CHUNK)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except ConnectionError:
            pass

    sender = asyncio.create_task(send())
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout=60)
    finally:
        sender.cancel()
        writer.close()
    return int(status_line.split()[1]), sent


async def test_an_oversize_chunked_body_without_a_key_is_refused_unread(
    dev_api: tuple[Proc, int, Path],
) -> None:
    proc, port, folder = dev_api
    await wait_ready(f"http://127.0.0.1:{port}")
    await asyncio.sleep(1.0)  # let start-up allocations settle
    before = rss_bytes(proc)
    status, sent = await send_chunked(port, "/api/v1/jobs")
    assert status == 413
    assert sent < BODY_BYTES, "the api read the whole body before answering"
    await asyncio.sleep(0.5)
    grown = rss_bytes(proc) - before
    assert grown < MAX_GROWTH, f"api RSS grew {grown / 2**20:.1f} MiB for a refused body"
    # Its database (key hashes, job arguments) is readable by its owner only.
    assert (folder / "tickwork.db").stat().st_mode & 0o777 == 0o600
