"""Who is asking: passwords (argon2), signed session cookies, sign-in throttling, roles.

The session is a signed cookie (no server-side session rows): it names the user, carries the
CSRF token and the moment it was signed. It is believed only while the user still exists,
signed after the user's last password change, and younger than ``web.session_minutes``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeSerializer

from sync_jobs.store.console import ROLES

COOKIE = "dealbridge_session"
CLOCK_SKEW = 60.0
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
"""Failed sign-ins allowed within the throttle window (store/console.THROTTLE_WINDOW)."""

_HASHER = PasswordHasher()
# Checked when the account does not exist, so an unknown name costs as long as a wrong
# password and the answer's timing does not tell which names exist.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash kept in the store."""
    return _HASHER.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` is the one ``stored_hash`` was made from (None: no such user)."""
    try:
        _HASHER.verify(stored_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored_hash is not None


def may(role: str, needed: str) -> bool:
    """True when ``role`` includes what ``needed`` may do (viewer < lead < admin)."""
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class Session:
    """A signed-in person as the cookie says: name, CSRF token, when it was signed."""

    user: str
    csrf: str
    signed_at: float


class Sessions:
    """Signs and reads session cookies with the store's key."""

    def __init__(self, key: str, max_age_seconds: int) -> None:
        self._serializer = URLSafeSerializer(key, salt="dealbridge-console-session")
        self._flows = URLSafeSerializer(key, salt="dealbridge-console-oidc-flow")
        self.max_age = max_age_seconds

    def sign_flow(self, data: dict[str, Any]) -> str:
        """A single sign-on attempt's state, signed for the browser to carry back."""
        return str(self._flows.dumps(data))

    def read_flow(self, cookie: str | None) -> dict[str, Any] | None:
        """The attempt's state, if the cookie is one we signed."""
        try:
            data = self._flows.loads(cookie or "")
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    def issue(self, user: str, now: datetime) -> tuple[str, Session]:
        """A new cookie value for ``user``, with a fresh CSRF token."""
        session = Session(user, secrets.token_urlsafe(32), now.timestamp())
        value = self._serializer.dumps({"u": user, "c": session.csrf, "t": session.signed_at})
        return value, session

    def read(self, cookie: str | None, now: datetime) -> Session | None:
        """The session in ``cookie``, or None if it is missing, forged or expired (judged by
        the console's clock, so tests can move it)."""
        try:
            data = self._serializer.loads(cookie or "")
        except BadSignature:
            return None
        session = _session(data)
        if session is None:
            return None
        age = now.timestamp() - session.signed_at
        if age > self.max_age or age < -CLOCK_SKEW:  # replicas' clocks differ a little
            return None
        return session


def _session(data: Any) -> Session | None:
    """The signed payload as a Session (None if it is not one: a payload of an older shape)."""
    if not isinstance(data, dict):
        return None
    user, csrf, signed = data.get("u"), data.get("c"), data.get("t")
    if isinstance(user, str) and isinstance(csrf, str) and isinstance(signed, int | float):
        return Session(user, csrf, float(signed))
    return None


def csrf_matches(session: Session, sent: str | None) -> bool:
    """The token a form or request header sent is this session's (constant-time compare)."""
    return bool(sent) and secrets.compare_digest(session.csrf, sent or "")
