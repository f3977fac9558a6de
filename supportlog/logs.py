"""Logs as JSON lines on stderr, one object per record, for every long-running worker.

Every line has the same keys: `time` (ISO 8601, UTC), `level` (`debug` ... `critical`),
`logger` (the module's logger name), `message`, then the fields the call passed in
`extra` (`topic`, `partition`, `batch`, ...) and, after an exception, `error` with its
traceback. The README documents them. A line is never dropped: values orjson cannot
encode are written as text, keys that are not strings (a batch's partition numbers)
become strings, and should encoding fail anyway the line still goes out with its
message and the reason.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

#: Attributes every LogRecord has; anything else was passed in `extra` and is logged.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_OPTIONS = orjson.OPT_NON_STR_KEYS


class JsonLines(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=str, option=_OPTIONS).decode()
        except (TypeError, orjson.JSONEncodeError) as e:  # never lose the line
            fallback = {k: entry[k] for k in ("time", "level", "logger", "message")}
            fallback["log_error"] = f"{type(e).__name__}: {e}"
            return orjson.dumps(fallback, default=str).decode()


def use_json_logs(level: int = logging.INFO, verbose: bool = False) -> None:
    """Routes every logger to stderr as JSON lines; with `verbose`, the Kafka client's
    own records too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("kafka").setLevel(logging.INFO if verbose else logging.WARNING)
