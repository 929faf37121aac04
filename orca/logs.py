"""Logging: one JSON object per line on stdout, for CloudWatch Logs and any log shipper."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import sys
import time
from datetime import UTC, datetime
from typing import Any, Final

# Attributes every LogRecord has; anything else was passed in ``extra`` and belongs in the JSON line.
# Attributes every LogRecord has (and uvicorn's terminal colouring); anything else was passed in ``extra`` and
# belongs in the JSON line.
_STANDARD_ATTRS: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


class JSONFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message, the ``extra`` fields and any error."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a single line of JSON."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS:
                line[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["error"] = f"{type(error).__name__}: {error}"
            cause = error.__cause__ or error.__context__
            if cause is not None:
                line["cause"] = f"{type(cause).__name__}: {cause}"
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(level: str) -> None:
    """Send every log record (ours, uvicorn's, psycopg's) to stdout as JSON lines at ``level``."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """A ``logging.config`` dict for uvicorn (applied in each worker process too) that routes through ours."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JSONFormatter}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


class AccessLogWriter:
    """Writes one JSON line per request to stdout, batched: the hot path only appends to a list.

    The logging module costs a record, a formatter and a flush (a system call) per line: a fifth of the
    service's CPU under load. Here lines are joined and written every ``interval`` seconds, when ``max_bytes``
    have piled up, and at shutdown, in writes of whole lines no larger than ``PIPE_BUF``, so that lines from
    several worker processes sharing one pipe never interleave. A process killed with SIGKILL loses at most
    ``interval`` seconds of access lines; every other log record still goes through the logging module.
    """

    def __init__(self, *, fd: int = 1, interval: float = 0.5, max_bytes: int = 64 * 1024, level: str = "INFO") -> None:
        self._fd = fd
        self._interval = interval
        self._max_bytes = max_bytes
        self._enabled = logging.getLevelName(level) <= logging.INFO
        self._lines: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._stamp = ""

    def start(self) -> None:
        """Start flushing on the running loop's clock."""
        self._schedule()

    def write(self, fields: dict[str, Any]) -> None:
        """Queue one access-log line; ``fields`` must be JSON-serialisable."""
        if not self._enabled:
            return
        now = time.time()
        second = int(now)
        if second != self._second:  # formatting the date once a second instead of per line
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        line = {
            "time": f"{self._stamp}.{int((now - second) * 1000):03d}+00:00",
            "level": "INFO",
            "logger": "orca.access",
            "message": "request",
            **fields,
        }
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8", "replace")
        self._lines.append(data)
        self._size += len(data)
        if self._size >= self._max_bytes:
            self.flush()

    def flush(self) -> None:
        """Write every queued line now."""
        lines, self._lines, self._size = self._lines, [], 0
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > select.PIPE_BUF:
                self._write(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write(b"".join(chunk))

    def close(self) -> None:
        """Stop the timer and write what is left."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()

    def _schedule(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._interval, self._tick)

    def _tick(self) -> None:
        self.flush()
        self._schedule()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                continue
            except OSError:
                return  # stdout is gone (closed pipe): nothing left to log to
            view = view[written:]
