"""Structured logs: one JSON object per line, personal data and secrets masked (redaction).

Masking happens where a line is written (the handler's formatter or filter), not where it is
logged, so every logger is covered: ours, uvicorn's access and error logs, SQLAlchemy's,
nats-py's; records that reach a handler through propagation included, and the traceback of an
exception (its message may quote a request).

`ykt serve` configures logging with `log_config()`: JSON lines (`YKT_LOG_FORMAT=json`, the
default in production) or the usual text lines (`text`, the default in development), masked
either way, in every worker process (uvicorn applies the configuration in each).

A JSON line: `ts` (UTC, ISO 8601, milliseconds), `level`, `logger`, `msg`, `pid`; `exc` with
the traceback; for uvicorn's access log `client`, `method`, `path`, `status`; and whatever a
call passed in `extra=` (masked, and `[redacted]` under a secret's name).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from datetime import UTC, datetime
from typing import Any

from yikatong.observability.redaction import REDACTED, SECRET_NAMES, mask

_SECRET_NAME = re.compile(rf"(?i)^(?:{SECRET_NAMES})$")
# The attributes every LogRecord has: what is not among them came in `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
# uvicorn's access line (its httptools and h11 protocols): client, method, path, version, status.
ACCESS_LINE = '%s - "%s %s HTTP/%s" %d'


@functools.lru_cache(maxsize=4096)
def masked_path(path: str) -> str:
    """`mask(path)`, remembered for the last few thousand paths: an access log masks the same
    paths over and over (a card's, a contact's), and `mask` is a function of its text alone
    (a path of 15 or more URL characters is a base64 token to decode and search)."""
    return mask(path)


def _access_args(record: logging.LogRecord) -> tuple | None:
    """uvicorn's access line's five arguments, or None for any other record."""
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and \
            len(record.args) == 5:
        return record.args
    return None


def _masked(value: Any, name: str | None = None) -> Any:
    if name is not None and _SECRET_NAME.match(name):
        return REDACTED
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {str(k): _masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_masked(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return mask(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, masked (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": None,
            "pid": record.process,
        }
        access = _access_args(record)
        if access is not None:
            # Only the path is the client's to choose: masked once, the message made from it.
            client, method, path, version, status = access
            path = masked_path(str(path))
            line.update(msg=record.msg % (client, method, path, version, status),
                        client=str(client), method=str(method), path=path, status=status)
        else:
            line["msg"] = mask(record.getMessage())
        if record.exc_info:
            line["exc"] = mask(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc"] = mask(record.exc_text)
        if record.stack_info:
            line["stack"] = mask(self.formatStack(record.stack_info))
        for name in record.__dict__.keys() - _STANDARD:  # what came in `extra=`
            if not name.startswith("_") and name not in line and name != "color_message":
                line[name] = _masked(record.__dict__[name], name)
        return json.dumps(line, ensure_ascii=False, default=str)


class MaskingFilter(logging.Filter):
    """For a text handler: the record's message, arguments and traceback masked before any
    formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        access = _access_args(record) if record.msg == ACCESS_LINE else None
        if access is not None:
            # uvicorn's access line: its parts masked one by one, the path through
            # `masked_path`. The same line as the whole one masked: the parts are set apart by
            # a quote or a space and a letter, which no match or base64 token spans.
            client, method, path, version, status = access
            # `masked_path` is `mask` remembered: a connection's client and the few methods
            # repeat as much as the paths do.
            record.msg = ACCESS_LINE % (masked_path(str(client)), masked_path(str(method)),
                                        masked_path(str(path)), version, status)
        else:
            record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


def log_format(settings) -> str:
    """`json` or `text`: YKT_LOG_FORMAT, else JSON in production and text in development."""
    chosen = (os.environ.get("YKT_LOG_FORMAT") or "").strip().lower()
    if chosen in ("json", "text"):
        return chosen
    return "json" if settings.is_production else "text"


def log_config(fmt: str = "json", level: str = "INFO") -> dict:
    """A logging.config.dictConfig for the server (uvicorn's `log_config`): its loggers and the
    root one (ours, SQLAlchemy's, nats-py's) write masked lines to standard error (access log:
    standard output, as uvicorn does)."""
    if fmt == "json":
        formatters = {"line": {"()": "yikatong.observability.logs.JsonFormatter"},
                      "access": {"()": "yikatong.observability.logs.JsonFormatter"}}
        filters: list[str] = []
    else:
        formatters = {"line": {"()": "uvicorn.logging.DefaultFormatter",
                               "fmt": "%(levelprefix)s %(name)s: %(message)s", "use_colors": None},
                      "access": {"()": "logging.Formatter",
                                 "fmt": "%(levelname)s:     %(message)s"}}
        filters = ["mask"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask": {"()": "yikatong.observability.logs.MaskingFilter"}},
        "formatters": formatters,
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "line",
                        "stream": "ext://sys.stderr", "filters": filters},
            "access": {"class": "logging.StreamHandler", "formatter": "access",
                       "stream": "ext://sys.stdout", "filters": filters},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
        },
        "root": {"handlers": ["default"], "level": level},
    }
