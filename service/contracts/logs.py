"""Structured JSON logs. A request id follows a job from the HTTP request
that submitted it into the worker's log lines for that experiment, so one
grep finds everything that happened to it."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
experiment_id_var: ContextVar[str | None] = ContextVar("experiment_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
            "experiment_id": experiment_id_var.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps({key: value for key, value in entry.items() if value is not None})


def use_json_logs(logger: logging.Logger | None = None, level: int = logging.INFO) -> None:
    """Send `logger`'s records (the root logger by default) to stderr as JSON lines."""
    target = logger or logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    target.handlers = [handler]
    target.setLevel(level)
