"""Reading run messages off `tickwork.runs`, and telling poison from work."""

from __future__ import annotations

import orjson
from pydantic import ValidationError
from tickwork_shared.messages import MAX_MESSAGE_BYTES, RUN_SCHEMA_VERSION, RunMessage

from tickwork_executor.errors import PoisonMessage


def parse_run_message(body: bytes) -> RunMessage:
    """The run message in `body`; raises `PoisonMessage` saying why it can never be run."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise PoisonMessage(f"oversized: {len(body)} bytes")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise PoisonMessage("not JSON") from None
    if not isinstance(data, dict):
        raise PoisonMessage("not a JSON object")
    version = data.get("schemaVersion")
    if version != RUN_SCHEMA_VERSION:
        raise PoisonMessage(f"unknown schemaVersion {version!r}")
    try:
        return RunMessage.model_validate(data)
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
        raise PoisonMessage(f"not a run message (bad fields: {fields})") from None
