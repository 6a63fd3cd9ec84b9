"""A TCP proxy that tests cut and restore, to put a network outage between tickwork and
MariaDB or RabbitMQ without touching the servers.

`TcpProxy.to_server_of(url)` proxies the server a database or broker URL names, and
`url_for(url)` is that URL through the proxy. `cut()` drops every open connection and
refuses new ones (connections are accepted and closed at once, as a dead route looks to a
client that retries); `restore()` lets traffic through again; `retarget(host, port)`
sends new connections elsewhere (a service address that follows a database failover).
Runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

# The port a URL of each scheme means when it names none.
DEFAULT_PORTS = {"mysql+asyncmy": 3306, "amqp": 5672}


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._listen_port = listen_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.is_cut = False
        self.connections = 0

    @classmethod
    def to_server_of(cls, url: str) -> Self:
        """A proxy (not started) to the MariaDB or RabbitMQ server that `url` names."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS[parts.scheme])

    def url_for(self, url: str) -> str:
        """`url` through this proxy: its host and port the proxy's, the rest (credentials,
        database or virtual host, query) kept."""
        parts = urlsplit(url)
        credentials, at, _ = parts.netloc.rpartition("@")
        return urlunsplit(parts._replace(netloc=f"{credentials}{at}127.0.0.1:{self.port}"))

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the proxy first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._listen_port)
        return self

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.close()

    def cut(self) -> None:
        self.is_cut = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.is_cut = False

    def retarget(self, host: str, port: int) -> None:
        """New connections go to `host:port`; open ones (to the old target) are dropped."""
        self.target = (host, port)
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.is_cut:
            client_w.transport.abort()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        self.connections += 1
        self._writers.update((client_w, server_w))
        pumps = [
            asyncio.create_task(self._pump(client_r, server_w)),
            asyncio.create_task(self._pump(server_r, client_w)),
        ]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for writer in (client_w, server_w):
            writer.transport.abort()
            self._writers.discard(writer)
        for pump in pumps:
            pump.cancel()
            self._tasks.discard(pump)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
