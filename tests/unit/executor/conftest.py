"""Fixtures of the built-in task tests: a registry of the built-ins over an in-process bus,
and local HTTP servers to call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tickwork_executor.tasks import TaskRegistry
from tickwork_shared.bus import MemoryBus

from tests.unit.executor.builtin_calls import LOCAL, registry_with
from tests.unit.executor.http_servers import Recorder, start_server, stop_server, url_of


@pytest.fixture
async def registry() -> AsyncIterator[tuple[TaskRegistry, MemoryBus]]:
    async with MemoryBus() as bus:
        yield registry_with(bus, LOCAL), bus


@pytest.fixture
def http_server() -> Iterator[str]:
    """A `Recorder` server's URL; `Recorder.seen` starts empty."""
    Recorder.seen = []
    server = start_server(Recorder)
    yield url_of(server)
    stop_server(server)


@pytest.fixture
def serve() -> Iterator[Callable[[type[BaseHTTPRequestHandler]], str]]:
    """Starts a server for a handler, answers its URL; stops them all afterwards."""
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> str:
        servers.append(start_server(handler))
        return url_of(servers[-1])

    yield start
    for server in servers:
        stop_server(server)
