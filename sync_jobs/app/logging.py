"""structlog pipeline: context vars, level, UTC timestamps, secret redaction, then JSON or console.

Redaction happens in one processor, fed by every secret resolved from config and every token a
connector mints, so no log line can carry a credential whatever code emitted it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO, cast

import structlog

from connectors.redact import is_secret_key, redact

LogFormat = Literal["console", "json"]


def redact_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace secret values (registered, or under secret-looking keys) with ``***``."""
    for key, value in list(event.items()):
        if is_secret_key(key) and key != "event":
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = redact(value)
        elif isinstance(value, BaseException):
            event[key] = redact(str(value))
    return event


class _Stderr:
    """Whatever ``sys.stderr`` is at write time (test runners and daemons swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_current: tuple[LogFormat, str] = ("console", "warning")


def current() -> tuple[LogFormat, str]:
    """The format and level this process was configured with (worker processes take them)."""
    return _current


def configure(fmt: LogFormat = "console", level: str = "info") -> None:
    """Set up logging once per process (CLI or daemon)."""
    global _current  # noqa: PLW0603 - one process-wide setting, as structlog's own
    _current = (fmt, level)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=cast("TextIO", _Stderr())),
        cache_logger_on_first_use=False,
    )
