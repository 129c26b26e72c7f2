"""Structured logging: JSON lines in production, readable lines in a terminal.

Every line carries an `action` (what happened, machine-readable), the process `role`, and,
while a row is being worked on, its `sha256` and `correlation_id`, so one photo can be
followed across the api, generate and publish processes with a single grep.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["EventLogger", "bind", "configure", "get_logger"]

# The default is never mutated: bind() always sets a new dict.
_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "touchgrass_log_context", default={}  # noqa: B039
)
_role = "touchgrass"

# Attributes every LogRecord has; anything else on a record is one of our fields.
_RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add fields (sha256, correlation_id, ...) to every line logged inside the block."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.role = _role
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if not hasattr(record, "action"):
            record.action = "log"
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class ConsoleFormatter(logging.Formatter):
    """`12:00:01 INFO  generate  claim  claimed 3 rows  sha256=ab12…`, for people."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        role = fields.pop("role", "")
        action = fields.pop("action", "")
        extra = " ".join(f"{k}={_short(v)}" for k, v in fields.items())
        text = (
            f"{time.strftime('%H:%M:%S', time.localtime(record.created))} "
            f"{record.levelname:<5} {role:<9} {action:<10} {record.getMessage()}"
        )
        if extra:
            text += f"  {extra}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _short(value: Any) -> str:
    text = str(value)
    return text[:12] + "…" if len(text) == 64 else text  # sha256 digests stay readable


class _OneLine(logging.Filter):
    """For libraries' own loggers: their failures while a dependency is down (asyncpg's pool
    retrying its connections) are expected, so the exception becomes part of the one line
    instead of a traceback on every retry."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def configure(role: str, *, fmt: str = "auto", level: str = "INFO") -> None:
    """Route every touchgrass logger to stderr in the chosen format; call once per process."""
    global _role
    _role = role
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    handler.addFilter(_ContextFilter())
    root = logging.getLogger("touchgrass")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    library = logging.StreamHandler(sys.stderr)
    library.setFormatter(handler.formatter)
    library.addFilter(_OneLine())
    library.addFilter(_ContextFilter())
    asyncpg_logger = logging.getLogger("asyncpg")
    asyncpg_logger.handlers[:] = [library]
    asyncpg_logger.setLevel(logging.WARNING)
    asyncpg_logger.propagate = False


class EventLogger:
    """A logger whose every call names its action: `log.info("claim", "claimed %d", n)`."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)
        self._logger.addFilter(_ContextFilter())

    def _log(self, level: int, action: str, message: str, *args: Any, **fields: Any) -> None:
        exc_info = fields.pop("exc_info", None)
        self._logger.log(level, message, *args, extra={"action": action, **fields}, exc_info=exc_info)

    def debug(self, action: str, message: str, *args: Any, **fields: Any) -> None:
        self._log(logging.DEBUG, action, message, *args, **fields)

    def info(self, action: str, message: str, *args: Any, **fields: Any) -> None:
        self._log(logging.INFO, action, message, *args, **fields)

    def warning(self, action: str, message: str, *args: Any, **fields: Any) -> None:
        self._log(logging.WARNING, action, message, *args, **fields)

    def error(self, action: str, message: str, *args: Any, **fields: Any) -> None:
        self._log(logging.ERROR, action, message, *args, **fields)


def get_logger(name: str) -> EventLogger:
    return EventLogger(name)
