"""The drill proxy itself: passes bytes, cuts open connections, refuses while cut."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.harness.tcp_proxy import TcpProxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def _read_or_reset(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(1024), 2)
    except ConnectionError:
        return b""


async def _roundtrip(port: int, payload: bytes) -> bytes:
    """What comes back; b"" when the connection is closed or reset on us."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(payload)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(1024), 2)
        writer.close()
    except ConnectionError:
        return b""
    return data


async def test_passes_cuts_and_restores(echo_port: int) -> None:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        assert await _roundtrip(proxy.port, b"hello") == b"hello"

        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"x")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(1), 2) == b"x"
        proxy.cut()
        assert await _read_or_reset(reader) == b""  # the open connection is dropped
        assert await _roundtrip(proxy.port, b"while cut") == b""  # new ones are refused

        proxy.restore()
        assert await _roundtrip(proxy.port, b"back") == b"back"


async def test_retarget_drops_open_connections_and_sends_new_ones_elsewhere(
    echo_port: int,
) -> None:
    async def shout(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data.upper())
            await writer.drain()
        writer.close()

    other = await asyncio.start_server(shout, "127.0.0.1", 0)
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"old")
        await writer.drain()
        assert await reader.read(1024) == b"old"
        proxy.retarget("127.0.0.1", other.sockets[0].getsockname()[1])
        assert await _read_or_reset(reader) == b""  # the open connection was dropped
        writer.close()
        assert await _roundtrip(proxy.port, b"new") == b"NEW"
    other.close()
