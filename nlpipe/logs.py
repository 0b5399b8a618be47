"""Log lines for the service: one JSON object per line (for log collectors) or plain text (for a terminal), each
with the id of the request it belongs to.

:data:`REQUEST_ID` holds the current request's id (the API sets it for each request; threads started for the
request's work inherit it). :class:`RequestIdFilter` copies it onto every record, so any logger's lines carry it.
:func:`log_config` is the :func:`logging.config.dictConfig` that ``nlpipe serve`` hands to uvicorn. A record's
extra fields among :data:`FIELDS` (``method``, ``route``, ``status``, ``latency_ms``, ``model``, ``key``...) become
fields of its JSON line; what the access log writes is decided by the API, which never logs a key or a text.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, Literal

__all__ = ["FIELDS", "REQUEST_ID", "JsonFormatter", "RequestIdFilter", "TextFormatter", "log_config", "use_json"]

#: The id of the request being answered (None outside a request).
REQUEST_ID: ContextVar[str | None] = ContextVar("nlpipe_request_id", default=None)

#: Record attributes written as fields of a JSON line when a record has them (``logger.info(..., extra={...})``).
FIELDS = ("method", "route", "path", "status", "code", "latency_ms", "model", "key", "client", "job")

LogFormat = Literal["auto", "json", "text"]


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` from :data:`REQUEST_ID` (unless the record has one), "-" outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = REQUEST_ID.get() or "-"
        return True


def _time(record: logging.LogRecord) -> str:
    """The record's time as ISO 8601 UTC with milliseconds (``2026-12-08T02:41:07.123Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def _request_id(record: logging.LogRecord) -> str | None:
    """The record's request id; None outside a request (the text format's "-" is not an id)."""
    found = getattr(record, "request_id", None) or REQUEST_ID.get()
    return None if found in (None, "-") else found


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, the :data:`FIELDS` the record has, and
    the traceback (``exc``) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id(record),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL [request id] logger: message`` (and the traceback), for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not getattr(record, "request_id", None):
            record.request_id = REQUEST_ID.get() or "-"
        return super().format(record)


def use_json(fmt: LogFormat, stream: Any = None) -> bool:
    """Whether lines are JSON: ``json``, ``text``, or ``auto`` -- JSON unless ``stream`` (stderr) is a terminal."""
    if fmt != "auto":
        return fmt == "json"
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return not (isatty is not None and isatty())


def log_config(fmt: LogFormat = "auto", level: str = "INFO") -> dict[str, Any]:
    """The logging set-up of ``nlpipe serve`` (a :func:`logging.config.dictConfig` dict, uvicorn's ``log_config``):
    nlpipe's and uvicorn's loggers to stderr in one format, every line with its request id. uvicorn's own access
    log is replaced by the API's (``nlpipe.access``), which knows the route, the model and the key's name."""
    formatter = "json" if use_json(fmt) else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"json": {"()": JsonFormatter}, "text": {"()": TextFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": formatter,
                "filters": ["request_id"],
            }
        },
        "loggers": {
            "nlpipe": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
