"""How the built-in task tests call a task function: as the executor does, bound to one
run's context, from a registry built over a given bus and trust boundaries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tickwork_executor.run.builtins import Boundaries, builtin_functions
from tickwork_executor.run.http_limits import HttpLimits
from tickwork_executor.tasks import RunContext, TaskRegistry, spec_of
from tickwork_shared.bus import MemoryBus
from tickwork_shared.egress import EgressPolicy

CONTEXT = RunContext("e-1", 4, datetime(2026, 5, 1, tzinfo=UTC), 2, "4:s:2026-05-01T00:00:00Z")
# The local test server lives on loopback, which the egress policy refuses by default.
LOCAL = Boundaries(
    http=HttpLimits(policy=EgressPolicy.parse(["127.0.0.1"])),
    publish_allow=frozenset({"tickwork.commands"}),
)


def registry_with(bus: MemoryBus, boundaries: Boundaries | None) -> TaskRegistry:
    return TaskRegistry(spec_of(f) for f in builtin_functions(bus, boundaries))


async def call(registry: TaskRegistry, name: str, args: dict[str, Any]) -> Any:
    spec = registry.get(name)
    assert spec is not None
    return await spec.func(**spec.bind(args, CONTEXT))
