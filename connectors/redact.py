"""One place that knows which strings are secret, so no log line or error can carry them.

Secrets are registered when config is loaded and whenever a connector mints a token at run
time (OAuth access tokens); :func:`redact` replaces every registered value with ``***``.
Values written inline under a secret-named key are registered too (they are refused, but the
error must not repeat them), and :func:`scrub` also hides anything shaped like a credential,
for text built from files an admin edited (config and mapping errors).
"""

from __future__ import annotations

import re
import threading

import httpx

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
    "webhook_url",
    "private_key",
)

_MIN_INLINE_LENGTH = 6
_NOT_SECRET = re.compile(r"(?i)^(true|false|yes|no|on|off|null|none|~|[-+]?[0-9_.]+)$")
_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$|^file:")

_SHAPES = re.compile(
    "|".join(
        (
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
            r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}",  # payment-provider style keys
            r"\bxox[abprs]-[A-Za-z0-9-]{10,}",  # Slack tokens
            r"\bgh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
            r"\bpat-[a-z]{2,3}[0-9]-[0-9a-f-]{16,}",  # HubSpot private-app tokens
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",  # JWTs
            r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]+:[^\s/@]+@",  # a password inside any URL
            r"(?i:hooks\.slack\.com/services/)[A-Za-z0-9/_-]+",  # a Slack webhook is a credential
            r"[?&](?i:sig|signature|token|key|code)=[^\s&#'\"]+",  # signed query strings
        )
    )
)
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_+=-]{20,}")
_HEX_RUN = re.compile(r"\b[0-9a-fA-F]{32,}\b")


_MIN_URL_PART = 8


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


def register_url_secret(url: str) -> None:
    """Treat a URL that is itself a credential (a Slack or Teams webhook) as a secret: the
    whole URL, and its path and query on their own (the token, the ``sig``), which is what
    messages and logs quote."""
    register_secret(url)
    parts = httpx.URL(url)
    for part in (parts.path, parts.query.decode("ascii", "replace")):
        if len(part) >= _MIN_URL_PART:
            register_secret(part)


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


def register_inline_secret(key: str, value: object) -> None:
    """Remember a value written inline under a secret-named key (``api_token: abc...``).

    References (``${ENV}``, ``file:...``) are not secrets themselves; short or boolean-looking
    values are skipped, so ``secret: true`` does not make every "true" in the logs vanish.
    """
    if not is_secret_key(key) or key.lower().endswith("_path") or not isinstance(value, str):
        return
    text = value.strip().strip("\"'").strip()
    if len(text) < _MIN_INLINE_LENGTH or _NOT_SECRET.match(text) or _REFERENCE.match(text):
        return
    register_secret(text)
    for line in text.splitlines():  # a PEM key or a folded block: each line on its own too
        if len(line.strip()) >= _MIN_INLINE_LENGTH:
            register_secret(line.strip())


def looks_like_secret(text: str) -> bool:
    """True for a string shaped like a credential: a known token format, or a long run of
    letters and digits mixing upper case, lower case and digits (or a long hex string)."""
    return bool(_SHAPES.search(text) or _HEX_RUN.search(text) or _mixed_run(text) is not None)


def scrub(text: str) -> str:
    """:func:`redact`, then hide anything :func:`looks_like_secret` would flag.

    For text built from an admin's files: an inline credential under any key, or a key
    pasted in the wrong place, never reaches a terminal, a log line or an alert."""
    if not text:
        return text
    text = _HEX_RUN.sub("***", _SHAPES.sub("***", redact(text)))
    return _TOKEN_RUN.sub(lambda m: "***" if _mixed(m.group(0)) else m.group(0), text)


def _mixed_run(text: str) -> str | None:
    return next((m.group(0) for m in _TOKEN_RUN.finditer(text) if _mixed(m.group(0))), None)


def _mixed(run: str) -> bool:
    return (
        any(c.isdigit() for c in run)
        and any(c.islower() for c in run)
        and any(c.isupper() for c in run)
    )
