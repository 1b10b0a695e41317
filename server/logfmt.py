"""JSON log lines (one object per line) for log shippers; the plain format stays for
development. Same content as the plain lines: never a query string, body or token."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        http = record.__dict__.get("http")
        if isinstance(http, dict):
            line["http"] = http
        if record.exc_info and record.exc_info[0] is not None:
            # The type only: an exception's text or traceback may quote input.
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, separators=(",", ":"), default=str)
