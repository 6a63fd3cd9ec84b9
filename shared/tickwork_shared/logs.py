"""Logging set-up: JSON lines in production, compact human lines in `tickwork dev`.

Log calls pass structured fields through `extra` (`action`, `job_id`, `execution_id`, …);
the formatters add the current trace id. Secrets never reach a log call; as a safety net
the formatters also mask what looks like one: an API key (`tw_…`), the password in a URL
(`amqp://user:***@host`), and fields named like `password`, `api_key` or `authorization`
(also inside a field holding a dict or list, as `tickwork_shared.masking` decides).
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry import trace

from tickwork_shared.masking import is_secret_key, mask_args

# Attributes every LogRecord has; anything else came from `extra`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


MASK = "***"
_SECRET_FIELDS = frozenset(
    {"password", "passwd", "secret", "token", "api_key", "apikey", "key", "authorization"}
)
_API_KEY = re.compile(r"\btw_[A-Za-z0-9_-]{20,}")
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with API keys and URL passwords masked."""
    if "tw_" in text:
        text = _API_KEY.sub("tw_" + MASK, text)
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)
    return text


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _STANDARD:
            continue
        if key.lower() in _SECRET_FIELDS or is_secret_key(key):
            extras[key] = MASK
        elif isinstance(value, str):
            extras[key] = redact(value)
        elif isinstance(value, dict | list):
            extras[key] = mask_args(value)
        else:
            extras[key] = value
    return extras


def _trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
            **_extras(record),
        }
        trace_id = _trace_id()
        if trace_id:
            entry["trace_id"] = trace_id
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        fields = " ".join(f"{k}={v}" for k, v in _extras(record).items() if k != "action")
        line = f"{when} {record.levelname[0]} {redact(record.getMessage())}"
        if fields:
            line += f"  [{fields}]"
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        return line


def configure_logging(log_format: str = "json", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else HumanFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter that tells an operator nothing at INFO.
    for noisy in ("aiormq", "aio_pika", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # asyncmy logs every server note ("Name 'x' ignored for PRIMARY key") as a warning.
    logging.getLogger("asyncmy").setLevel(logging.ERROR)
