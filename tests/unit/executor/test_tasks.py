"""The task-function API: the decorator, the derived JSON Schema, argument binding."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
from pydantic import Field
from tickwork_executor.errors import InvalidArguments, TaskDefinitionError
from tickwork_executor.tasks import RunContext, TaskRegistry, spec_of, task_function

CONTEXT = RunContext(
    execution_id="e-1",
    job_id=3,
    scheduled_at=datetime(2026, 5, 1, tzinfo=UTC),
    attempt=2,
    idempotency_key="3:s:2026-05-01T00:00:00Z",
)


@task_function("sample.report", description="Builds a report")
async def report(
    region: str,
    row_limit: Annotated[int, Field(ge=1)] = 100,
    json: dict[str, Any] | None = None,
    *,
    context: RunContext,
) -> dict[str, Any]:
    return {"region": region, "rowLimit": row_limit, "json": json, "key": context.idempotency_key}


@task_function("sample.sync")
def sync_task(count: int) -> int:
    return count * 2


def test_the_decorator_leaves_the_function_callable() -> None:
    assert sync_task(2) == 4


def test_the_schema_uses_camel_case_names_and_omits_the_context() -> None:
    schema = spec_of(report).params_schema
    assert schema["type"] == "object"
    assert schema["title"] == "sample.report"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"region", "rowLimit", "json"}
    assert schema["required"] == ["region"]
    assert schema["properties"]["rowLimit"] == {
        "default": 100,
        "minimum": 1,
        "title": "rowLimit",
        "type": "integer",
    }


def test_spec_knows_async_sync_and_context() -> None:
    spec = spec_of(report)
    assert (spec.name, spec.description, spec.is_async, spec.context_param) == (
        "sample.report",
        "Builds a report",
        True,
        "context",
    )
    sync = spec_of(sync_task)
    assert (sync.is_async, sync.context_param, sync.description) == (False, None, None)


def test_bind_validates_args_and_adds_the_context() -> None:
    kwargs = spec_of(report).bind({"region": "eu", "rowLimit": 5, "json": {"a": 1}}, CONTEXT)
    assert kwargs == {"region": "eu", "row_limit": 5, "json": {"a": 1}, "context": CONTEXT}
    assert spec_of(report).bind({"region": "eu"}, CONTEXT)["row_limit"] == 100


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        ({}, "region: Field required"),
        ({"region": "eu", "rowLimit": 0}, "rowLimit: Input should be greater than or equal to 1"),
        ({"region": "eu", "row_limit": 5}, "row_limit: Extra inputs are not permitted"),
        ({"region": ["eu"]}, "region: Input should be a valid string"),
    ],
)
def test_bad_args_are_refused_naming_the_field(args: dict[str, Any], complaint: str) -> None:
    with pytest.raises(InvalidArguments, match=r"sample\.report") as caught:
        spec_of(report).bind(args, CONTEXT)
    assert complaint in str(caught.value)


def test_signatures_that_cannot_take_json_are_refused() -> None:
    @task_function("bad.varargs")
    def varargs(*items: int) -> None: ...

    @task_function("bad.positional")
    def positional(item: int, /) -> None: ...

    for func in (varargs, positional):
        with pytest.raises(TaskDefinitionError, match="keyword"):
            spec_of(func)
    with pytest.raises(TaskDefinitionError, match="not marked"):
        spec_of(lambda: None)


def test_a_registry_loads_marked_functions_from_modules() -> None:
    registry = TaskRegistry()
    registry.load_module(__name__)
    assert registry.names == ["sample.report", "sample.sync"]
    assert registry.get("sample.sync") is not None
    assert registry.get("missing") is None


def test_two_functions_with_one_name_are_refused() -> None:
    @task_function("sample.sync")
    def impostor(count: int) -> int:
        return count

    registry = TaskRegistry([spec_of(sync_task)])
    registry.add(spec_of(sync_task))  # the same function twice is fine
    with pytest.raises(TaskDefinitionError, match="two task functions"):
        registry.add(spec_of(impostor))


def test_an_unimportable_module_is_a_definition_error() -> None:
    with pytest.raises(TaskDefinitionError, match="no_such_module"):
        TaskRegistry().load_module("no_such_module")
