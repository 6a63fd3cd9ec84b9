"""Task functions: the public decorator, the run context, and the registry of what runs.

Users write, in a module listed in `TICKWORK_TASK_MODULES`::

    from tickwork_executor.tasks import RunContext, task_function

    @task_function("reports.nightly", description="Build the nightly report")
    async def nightly(region: str, limit: int = 100, *, context: RunContext) -> dict:
        ...

Parameters become the function's JSON Schema (camelCase names, as every JSON in tickwork),
and a job's `args` are validated against it before each call. A parameter annotated
`RunContext` receives the run's identity instead of an argument. Functions may be async
(run on the event loop) or sync (run in the executor's thread pool).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.alias_generators import to_camel

from tickwork_executor.errors import InvalidArguments, TaskDefinitionError, TaskFailed

__all__ = ["RunContext", "TaskFailed", "task_function"]

F = TypeVar("F", bound=Callable[..., Any])

_DECLARATION = "__tickwork_task__"


@dataclass(frozen=True)
class RunContext:
    """Who this call is: handed to a task function that declares a `RunContext` parameter.

    `idempotency_key` is the same for every attempt of one fire time (retries included),
    so a task whose side effects must happen once can pass it on (e.g. as an HTTP
    `Idempotency-Key`): runs are at-least-once across attempts.
    """

    execution_id: str
    job_id: int
    scheduled_at: datetime
    attempt: int
    idempotency_key: str


@dataclass(frozen=True)
class _Declaration:
    name: str
    description: str | None


def task_function(name: str, *, description: str | None = None) -> Callable[[F], F]:
    """Mark a module-level function as the task function `name`; returns it unchanged.

    Nothing is registered at import: the executor scans the modules it loads for marked
    functions, so importing a task module has no side effect and the function stays
    callable as written (handy in the module's own tests).
    """
    if not name or len(name) > 200:
        raise TaskDefinitionError(f"a task function name needs 1 to 200 characters: {name!r}")

    def mark(func: F) -> F:
        setattr(func, _DECLARATION, _Declaration(name, description))
        return func

    return mark


@dataclass(frozen=True)
class TaskFunctionSpec:
    """A task function as the executor runs it: callable, parameter model, schema."""

    name: str
    description: str | None
    func: Callable[..., Any]
    params: type[BaseModel]
    fields: Mapping[str, str]
    """Python parameter name → field name in `params` (they differ where a name would
    shadow a `BaseModel` attribute, such as `json`)."""
    context_param: str | None
    is_async: bool

    @property
    def params_schema(self) -> dict[str, Any]:
        """The JSON Schema of the arguments (camelCase property names)."""
        return self.params.model_json_schema(by_alias=True)

    def bind(self, args: Mapping[str, Any], context: RunContext) -> dict[str, Any]:
        """Keyword arguments for one call: `args` validated, the context added.

        Raises `InvalidArguments` naming every offending field.
        """
        try:
            validated = self.params.model_validate(dict(args))
        except ValidationError as error:
            raise InvalidArguments(_describe(self.name, error)) from None
        kwargs = {param: getattr(validated, field) for param, field in self.fields.items()}
        if self.context_param is not None:
            kwargs[self.context_param] = context
        return kwargs


def _describe(name: str, error: ValidationError) -> str:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'args'}: {e['msg']}"
        for e in error.errors(include_url=False)
    )
    return f"args do not match the parameters of {name!r}: {problems}"


def spec_of(func: Callable[..., Any]) -> TaskFunctionSpec:
    """Build the spec of a function marked with `task_function`."""
    declaration = getattr(func, _DECLARATION, None)
    if not isinstance(declaration, _Declaration):
        raise TaskDefinitionError(f"{func!r} is not marked with @task_function")
    try:
        hints = get_type_hints(func, include_extras=True)
    except Exception as error:
        raise TaskDefinitionError(
            f"cannot resolve the annotations of task function {declaration.name!r}: {error}"
        ) from error
    definitions: dict[str, Any] = {}
    fields: dict[str, str] = {}
    context_param: str | None = None
    for param in inspect.signature(func).parameters.values():
        annotation = hints.get(param.name, Any)
        if annotation is RunContext:
            context_param = param.name
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TaskDefinitionError(
                f"task function {declaration.name!r}: parameter {param.name!r} must be "
                "passable by keyword (no *args, **kwargs or positional-only parameters)"
            )
        field = param.name + "_" if hasattr(BaseModel, param.name) else param.name
        default = ... if param.default is param.empty else param.default
        alias = to_camel(param.name)
        definitions[field] = (annotation, Field(default, alias=alias, title=alias))
        fields[param.name] = field
    model_name = re.sub(r"\W+", "_", declaration.name) + "_params"
    config = ConfigDict(extra="forbid", title=declaration.name)
    try:
        params = create_model(model_name, __config__=config, **definitions)
        params.model_json_schema(by_alias=True)
    except Exception as error:
        raise TaskDefinitionError(
            f"task function {declaration.name!r} has parameters pydantic cannot describe: {error}"
        ) from error
    return TaskFunctionSpec(
        name=declaration.name,
        description=declaration.description,
        func=func,
        params=params,
        fields=fields,
        context_param=context_param,
        is_async=inspect.iscoroutinefunction(func),
    )


def marked_functions(namespace: Mapping[str, Any]) -> list[Callable[..., Any]]:
    """The functions marked with `task_function` among a module's attributes."""
    return [
        value
        for value in namespace.values()
        if callable(value) and isinstance(getattr(value, _DECLARATION, None), _Declaration)
    ]


class TaskRegistry:
    """The task functions one executor offers, by name."""

    def __init__(self, specs: Iterable[TaskFunctionSpec] = ()) -> None:
        self._specs: dict[str, TaskFunctionSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: TaskFunctionSpec) -> None:
        existing = self._specs.get(spec.name)
        if existing is not None and existing.func is not spec.func:
            raise TaskDefinitionError(
                f"two task functions are named {spec.name!r}: "
                f"{existing.func.__module__}.{existing.func.__qualname__} and "
                f"{spec.func.__module__}.{spec.func.__qualname__}"
            )
        self._specs[spec.name] = spec

    def load_module(self, module_name: str) -> None:
        """Import `module_name` and add every task function defined or imported in it."""
        try:
            module = importlib.import_module(module_name)
        except Exception as error:
            raise TaskDefinitionError(
                f"cannot import task module {module_name!r} (TICKWORK_TASK_MODULES): {error!r}"
            ) from error
        for func in marked_functions(vars(module)):
            self.add(spec_of(func))

    def get(self, name: str) -> TaskFunctionSpec | None:
        return self._specs.get(name)

    def __iter__(self) -> Iterator[TaskFunctionSpec]:
        return iter(sorted(self._specs.values(), key=lambda spec: spec.name))

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def names(self) -> list[str]:
        return sorted(self._specs)
