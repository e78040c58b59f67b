"""One place that knows which strings are secret, so no log line or error can carry them.

Secrets are registered when config is loaded and whenever a connector mints a token at run
time (OAuth access tokens); :func:`redact` replaces every registered value with ``***``.
"""

from __future__ import annotations

import re
import threading

_MIN_SECRET_LENGTH = 4
_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

SECRET_KEY_HINTS = (
    "token",
    "secret",
    "password",
    "authorization",
    "api_key",
    "apikey",
    "assertion",
)


def register_secret(value: str | None) -> None:
    """Remember a secret value so that :func:`redact` removes it everywhere."""
    global _pattern  # noqa: PLW0603 - module-level registry guarded by a lock
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``***``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub("***", text)


def is_secret_key(key: str) -> bool:
    """True for keys whose values must never be shown (``access_token``, ``password``...)."""
    lowered = key.lower()
    return any(hint in lowered for hint in SECRET_KEY_HINTS)
