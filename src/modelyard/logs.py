"""Structured logs: one JSON object a line, each carrying the request id it was written under."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "configure_logging", "redact", "redact_path", "request_id_var"]

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Credentials that may turn up in a log line: in a path nobody routed (/token_status/<jwt>/x),
# a query string, an error's text, a header someone logged. Each is replaced by ***.
_JWT = r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
_API_KEY = r"(?<=mdy_)[A-Za-z0-9_-]{6,}"
_SECRET_IN_PATH = re.compile(f"{_JWT}|{_API_KEY}")
# A name ending like a credential's (password, sessionToken, X-API-Key), then = or : (quoted
# or not, also inside JSON's escaped quotes), then the value; an Authorization value keeps its
# scheme (Bearer, Basic) and loses the rest. The match starts at the credential word (no
# leading [\w-]*, which backtracked over every word of every line).
_NAMED_SECRET = re.compile(
    r"(?i)((?:authorization|api[-_]?key|token|password|passwd|secret_key|secret)"
    r"\\?[\"']?\s*[:=]\s*\\?[\"']?(?:(?:bearer|basic|token)\s+)?)[^\s\"'\\,;&}\]]+"
)


# The password in a URL's user part (redis://:pw@host, postgresql://user:pw@host/db).
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@/\s]+@")


# Each pattern above needs one of these (lower case) in the line.
_TRIGGERS = ("eyj", "mdy_", "://", "authorization", "key", "token", "passw", "secret")


def redact_path(path: str) -> str:
    """``path`` with any JWT or API key in it replaced by ***."""
    return _SECRET_IN_PATH.sub("***", path)


def redact(text: str) -> str:
    """``text`` with credentials replaced by ***: JWTs, API keys, passwords in URLs, and the
    values of fields and headers named like a credential (``password=``, ``"token": "..."``,
    ``Authorization:``)."""
    # Most lines hold none of the words every pattern needs: a few substring searches in C
    # (about a fiftieth of the regular expressions' cost on an access-log line) let them by.
    lowered = text.lower()
    if not any(word in lowered for word in _TRIGGERS):
        return text
    text = _URL_PASSWORD.sub(r"\1***@", _SECRET_IN_PATH.sub("***", text))
    return _NAMED_SECRET.sub(r"\1***", text)


# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # The whole line, whichever logger wrote it (ours, uvicorn's, a library's, a traceback).
        return redact(json.dumps(entry, default=str))


class _TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send every logger to stderr in the chosen format; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_modelyard", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._modelyard = True  # type: ignore[attr-defined]
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else _TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Neither format shows the caller's file or line, so no record looks them up: finding the
    # caller walks the stack, the dearest part of an access-log line (the logging HOWTO's
    # "Optimization" section names this switch).
    logging._srcfile = None
    # Alembic announces each plug-in it loads at INFO; the CLI reports the revision itself.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Our own access log redacts secrets in query strings; uvicorn's would print them.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
