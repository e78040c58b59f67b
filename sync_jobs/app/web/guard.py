"""Every handler's first line: who is asking, may they, and (for changes) is the CSRF token theirs.

Pages call :func:`require` (signed in, with at least a role); state-changing routes call
:func:`require_change`, which also checks the CSRF token from the form field ``csrf`` or the
``X-CSRF-Token`` header and refuses with 403 without it (a change is never redirected to the
sign-in page: a forged request gets nothing but the refusal).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request

from sync_jobs.app.web.auth import COOKIE, Session, csrf_matches, may
from sync_jobs.app.web.state import console_state
from sync_jobs.store.console import get_user
from sync_jobs.store.db import read_tx


class NotSignedIn(Exception):
    """No valid session: pages send the person to the sign-in page."""


class Refused(Exception):
    """Signed in but not allowed (role), or a change without its CSRF token: 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Who:
    """The signed-in person handling this request."""

    name: str
    role: str
    session: Session

    def may(self, needed: str) -> bool:
        """True when this person's role allows what ``needed`` may do."""
        return may(self.role, needed)


async def current(request: Request) -> Who | None:
    """The person the session cookie names, if it is valid and they still may sign in."""
    state = console_state(request)
    session = state.sessions.read(request.cookies.get(COOKIE), state.clock())
    if session is None:
        return None
    async with read_tx(state.store) as conn:
        user = await get_user(conn, session.user)
    if user is None or session.signed_at < user.sessions_after.timestamp():
        return None
    return Who(user.name, user.role, session)


async def require(request: Request, role: str = "viewer") -> Who:
    """The signed-in person, if their role allows ``role``'s pages."""
    who = await current(request)
    if who is None:
        raise NotSignedIn
    if not who.may(role):
        raise Refused(f"this needs the {role} role; {who.name} is a {who.role}")
    return who


async def require_change(request: Request, role: str) -> tuple[Who, FormData]:
    """For a state-changing request: a valid session, its CSRF token, and the role."""
    who = await current(request)
    if who is None:
        raise Refused("not signed in (or the session expired): sign in and try again")
    form = await request.form()
    sent = form.get("csrf") or request.headers.get("x-csrf-token")
    if not csrf_matches(who.session, sent if isinstance(sent, str) else None):
        raise Refused("the form's security token is missing or stale: reload the page and retry")
    if not who.may(role):
        raise Refused(f"this change needs the {role} role; {who.name} is a {who.role}")
    return who, form


def client_address(request: Request) -> str:
    """Who is connecting: the proxy's X-Forwarded-For first hop when the proxy is trusted."""
    state = console_state(request)
    if state.config.web.trusted_proxy:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.client.host if request.client else "unknown"


def over_https(request: Request) -> bool:
    """True when the person's browser talks HTTPS (to us, or to a trusted proxy)."""
    if request.url.scheme == "https":
        return True
    state = console_state(request)
    return state.config.web.trusted_proxy and (
        request.headers.get("x-forwarded-proto", "").lower() == "https"
    )
