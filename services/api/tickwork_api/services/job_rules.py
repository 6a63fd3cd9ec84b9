"""The pure rules a job's input must follow: schedule, first fire time, arguments,
concurrency.

No I/O and no clock: `now` is passed in, so each rule is tested on its own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from tickwork_shared.enums import OverlapPolicy
from tickwork_shared.publish_policy import publish_refusal
from tickwork_shared.schedule import (
    DateSchedule,
    Schedule,
    ScheduleError,
    next_fire_time,
    parse_schedule,
)
from tickwork_shared.secret_refs import reference_problems, references, with_placeholders

from tickwork_api.errors import FieldError, ValidationFailed, field_name

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as SchemaViolation

logger = logging.getLogger(__name__)

MAX_ARGS_BYTES = 32 * 1024
"""Arguments travel in every execution row and event: a bound keeps both small."""
MAX_ARGS_DEPTH = 20
"""MariaDB's JSON type refuses documents nested deeper than 32 levels."""
MAX_ARG_ERRORS = 10


def parse_job_schedule(data: Mapping[str, Any], now: datetime) -> Schedule:
    """The schedule a user sent; an interval without `startAt` starts `now`.

    Raises `ValidationFailed` naming `schedule.<field>`.
    """
    try:
        return parse_schedule(data, default_start=now)
    except ScheduleError as error:
        raise ValidationFailed.one(f"schedule.{error.field}", error.message) from None
    except (ValueError, OverflowError, TypeError):
        raise ValidationFailed.one("schedule", "is malformed or out of range") from None


def first_fire_time(schedule: Schedule, now: datetime, grace_seconds: int) -> datetime | None:
    """Where a new (or rescheduled) enabled job starts: its first fire time after `now`.

    A `date` in the past is refused unless it lies within the misfire grace: then it is
    due already and runs at once. Raises `ValidationFailed` on `schedule.runAt`.
    """
    if isinstance(schedule, DateSchedule) and schedule.run_at <= now:
        if now - schedule.run_at <= timedelta(seconds=grace_seconds):
            return schedule.run_at
        raise ValidationFailed.one(
            "schedule.runAt",
            f"is in the past (more than misfireGraceSeconds={grace_seconds} ago)",
        )
    return next_fire_time(schedule, now)


def plan_schedule(
    data: Mapping[str, Any], now: datetime, grace_seconds: int, errors: list[FieldError]
) -> tuple[Schedule | None, datetime | None]:
    """`parse_job_schedule` then `first_fire_time`; on failure (None, None) with the
    problem appended to `errors`, so one response can name every field at fault."""
    try:
        schedule = parse_job_schedule(data, now)
        return schedule, first_fire_time(schedule, now, grace_seconds)
    except ValidationFailed as error:
        errors.extend(error.errors)
        return None, None


def check_args(
    params_schema: Mapping[str, Any] | None, args: Mapping[str, Any]
) -> list[FieldError]:
    """Size and depth limits, well-formed secret references, then the task function's
    `paramsSchema` (when known)."""
    errors = args_limit_errors(args)
    if not errors:
        errors = [
            FieldError(field_name(["args", *path]), message)
            for path, message in reference_problems(args)
        ]
    if not errors and params_schema is not None:
        errors = args_errors(params_schema, args)
    return errors


def publish_errors(
    task_function: str, args: Mapping[str, Any], allow: Collection[str]
) -> list[FieldError]:
    """`amqp.publish` to a reserved exchange given literally (`""`, `amq.*`, `tickwork.*`):
    refused at create, as the executor would refuse it at run time."""
    exchange = args.get("exchange")
    if task_function != "amqp.publish" or not isinstance(exchange, str):
        return []
    refusal = publish_refusal(exchange, allow)
    return [FieldError("args.exchange", refusal)] if refusal else []


def concurrency_errors(overlap_policy: str, max_concurrent_runs: int | None) -> list[FieldError]:
    if max_concurrent_runs is not None and overlap_policy != OverlapPolicy.ALLOW.value:
        return [
            FieldError(
                "maxConcurrentRuns",
                "only with overlapPolicy 'allow' (skip and queue already run one at a time)",
            )
        ]
    return []


def args_limit_errors(args: Mapping[str, Any]) -> list[FieldError]:
    """Arguments every service can carry: plain JSON (no NaN or Infinity, integers within
    64 bits), at most `MAX_ARGS_BYTES` and `MAX_ARGS_DEPTH` deep."""
    # Depth first, without recursion: the other checks recurse and would crash (500)
    # on arguments nested hundreds of levels deep.
    if _deeper_than(args, MAX_ARGS_DEPTH):
        return [FieldError("args", f"is nested deeper than {MAX_ARGS_DEPTH} levels")]
    plain = "must be plain JSON: no NaN or Infinity, integers within 64 bits"
    if not _finite(args):
        return [FieldError("args", plain)]
    try:
        size = len(orjson.dumps(args))
    except (TypeError, orjson.JSONEncodeError):
        return [FieldError("args", plain)]
    if size > MAX_ARGS_BYTES:
        return [FieldError("args", f"is {size} bytes as JSON; at most {MAX_ARGS_BYTES}")]
    return []


def _finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _deeper_than(value: object, limit: int) -> bool:
    """Objects and arrays nest more than `limit` levels in `value` (walked level by level,
    never past `limit + 1`)."""
    layer = [value] if isinstance(value, Mapping | list) else []
    for _ in range(limit):
        layer = [
            child
            for item in layer
            for child in (item.values() if isinstance(item, Mapping) else item)
            if isinstance(child, Mapping | list)
        ]
        if not layer:
            return False
    return bool(layer)


def args_errors(params_schema: Mapping[str, Any], args: Mapping[str, Any]) -> list[FieldError]:
    """Where `args` break the task function's `paramsSchema` (JSON Schema), by field.

    A schema that is itself invalid is the executor's bug, not the user's: it is logged
    and the arguments are accepted. A secret reference stands for a value only the
    executor knows: it is validated as a placeholder string and nothing is said about
    its own place (the executor checks the resolved value at run time).
    """
    # Imported here: jsonschema (with referencing, rpds, attrs) is ~3 MiB an api that only
    # reads and triggers never needs; the first job written for a known function loads it.
    from jsonschema import exceptions as schema_exceptions
    from jsonschema import validators

    cls = validators.validator_for(params_schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(dict(params_schema))
    except schema_exceptions.SchemaError:
        logger.warning(
            "a task function's paramsSchema is not a valid JSON Schema; arguments not checked",
            extra={"action": "params_schema_invalid"},
        )
        return []
    validator = cls(params_schema, format_checker=cls.FORMAT_CHECKER)
    secret_paths = [path for path, _name in references(args)]
    errors = sorted(
        (
            error
            for error in validator.iter_errors(with_placeholders(args))
            if not any(tuple(error.absolute_path)[: len(p)] == p for p in secret_paths)
        ),
        key=schema_exceptions.relevance,
    )
    return [_field_error(error) for error in errors[:MAX_ARG_ERRORS]]


def _field_error(error: SchemaViolation) -> FieldError:
    path = ["args", *error.absolute_path]
    required = error.validator_value
    if error.validator == "required" and isinstance(error.instance, Mapping):
        assert isinstance(required, list)
        missing = [p for p in required if p not in error.instance]
        if missing:
            return FieldError(field_name([*path, str(missing[0])]), "is required")
    return FieldError(field_name(path), error.message)
