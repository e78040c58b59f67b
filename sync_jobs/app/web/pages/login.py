"""Signing in and out, with throttling per account and per address.

The sign-in form has no session yet, so its CSRF token is a double-submit cookie: the form
must send back the random value the page set (a forged cross-site form cannot read it).
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sync_jobs.app.web.auth import (
    COOKIE,
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ADDRESS,
    password_matches,
)
from sync_jobs.app.web.guard import Refused, client_address, over_https, require_change
from sync_jobs.app.web.render import render
from sync_jobs.app.web.state import console_state
from sync_jobs.store.console import (
    THROTTLE_WINDOW,
    end_sessions,
    forget_failures,
    get_user,
    recent_failures,
    record_change,
    record_login_failure,
)
from sync_jobs.store.db import read_tx, write_tx

LOGIN_CSRF = "dealbridge_login_csrf"


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _form(request: Request, message: str | None = None, status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    oidc = console_state(request).current_config().web.oidc
    response = render(
        request,
        "login.html",
        None,
        status_code=status_code,
        login_csrf=token,
        oidc_label=oidc.label if oidc else None,
        message=message,
        next=safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        LOGIN_CSRF, token, httponly=True, samesite="strict", secure=over_https(request)
    )
    return response


async def login_page(request: Request) -> Response:
    """GET /login."""
    return _form(request)


async def login(request: Request) -> Response:
    """POST /login: check the password, unless this account or address is throttled."""
    state = console_state(request)
    form = await request.form()
    sent, kept = form.get("csrf"), request.cookies.get(LOGIN_CSRF)
    if not (isinstance(sent, str) and kept and secrets.compare_digest(sent, kept)):
        raise Refused("the sign-in form's security token is missing: reload the page")
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    address, now = client_address(request), state.clock()
    async with read_tx(state.store) as conn:
        by_account, by_address = await recent_failures(conn, name, address, now - THROTTLE_WINDOW)
        user = await get_user(conn, name)
    if by_account >= MAX_FAILURES_PER_ACCOUNT or by_address >= MAX_FAILURES_PER_ADDRESS:
        minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
        return _form(
            request, f"Too many failed sign-ins: wait {minutes} minutes and try again.", 429
        )
    if user is None or not password_matches(user.password_hash, password):
        async with write_tx(state.store) as conn:
            await record_login_failure(conn, name, address, now)
        return _form(request, "Wrong name or password.", 401)
    return await start_session(request, user.name, {"from": address}, str(form.get("next", "/")))


async def start_session(
    request: Request, name: str, detail: dict[str, str], next_path: str | None
) -> Response:
    """Sign ``name`` in (password or single sign-on): the session cookie, audited."""
    state = console_state(request)
    now = state.clock()
    cookie, _session = state.sessions.issue(name, now)
    async with write_tx(state.store) as conn:
        await forget_failures(conn, name, now - THROTTLE_WINDOW)
        await record_change(conn, name, "signed_in", f"user:{name}", detail, now)
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=state.sessions.max_age,
        httponly=True,
        samesite="strict",
        secure=over_https(request),
    )
    response.delete_cookie(LOGIN_CSRF)
    return response


async def logout(request: Request) -> Response:
    """POST /logout (CSRF-checked, so a forged link cannot sign anyone out). The cookie is
    signed, not stored, so signing out voids every session of the person signed before now:
    a copy of the cookie is worth nothing afterwards (other devices sign in again)."""
    who, _form = await require_change(request, "viewer")
    state = console_state(request)
    async with write_tx(state.store) as conn:
        await end_sessions(conn, who.name, state.clock())
        await record_change(conn, who.name, "signed_out", f"user:{who.name}", None, state.clock())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, httponly=True, samesite="strict")
    return response
