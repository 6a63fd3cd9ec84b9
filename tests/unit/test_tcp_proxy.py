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


async def test_a_url_through_the_proxy_keeps_all_but_host_and_port() -> None:
    database = "mysql+asyncmy://root:p%40ss@db.example/tickwork?charset=utf8mb4"
    async with TcpProxy.to_server_of(database) as proxy:
        assert proxy.target == ("db.example", 3306)  # the scheme's port: the URL names none
        through = f"root:p%40ss@127.0.0.1:{proxy.port}"
        assert proxy.url_for(database) == f"mysql+asyncmy://{through}/tickwork?charset=utf8mb4"
        assert proxy.url_for("amqp://rabbit/") == f"amqp://127.0.0.1:{proxy.port}/"
