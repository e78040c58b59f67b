"""The console's Starlette app: routes, the store it opens, and the headers every answer carries.

The app reads config.yaml itself (``-c``), migrates and opens the state store, and takes the
session-signing key from the store, so ``dealbridge web`` and ``dealbridge daemon --web-port``
on any replica accept the same sessions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync_jobs.app.web import oidc
from sync_jobs.app.web.auth import Sessions
from sync_jobs.app.web.guard import NotSignedIn, Refused, current
from sync_jobs.app.web.pages import (
    alerts,
    conflicts,
    customers,
    login,
    mappings,
    overview,
    settings,
    users,
)
from sync_jobs.app.web.render import render
from sync_jobs.app.web.state import ConsoleState
from sync_jobs.config.app import load_config
from sync_jobs.run.context import utcnow
from sync_jobs.store.console import signing_key
from sync_jobs.store.db import make_engine, migrate_async, write_tx

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = [
    # No inline script or style anywhere: a deal's text that slipped through could not run.
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _not_signed_in(request: Request, _exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


async def _refused(request: Request, exc: Exception) -> Response:
    reason = exc.reason if isinstance(exc, Refused) else "refused"
    who = await current(request)
    return render(request, "refused.html", who, status_code=403, reason=reason)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    who = await current(request)
    if exc.status_code == 404:
        return render(request, "refused.html", who, status_code=404, reason=exc.detail)
    return PlainTextResponse(exc.detail, status_code=exc.status_code)


ROUTES = [
    Route("/", overview.overview),
    Route("/login", login.login_page, methods=["GET"]),
    Route("/login", login.login, methods=["POST"]),
    Route("/logout", login.logout, methods=["POST"]),
    Route("/login/oidc", oidc.begin),
    Route("/login/oidc/callback", oidc.finish),
    Route("/conflicts", conflicts.conflict_list),
    Route("/conflicts/{conflict_id:int}", conflicts.conflict_detail),
    Route("/conflicts/{conflict_id:int}/resolve", conflicts.confirm, methods=["GET"]),
    Route("/conflicts/{conflict_id:int}/resolve", conflicts.resolve_conflict, methods=["POST"]),
    Route("/customers", customers.search),
    Route("/customers/{target}/{customer_key:path}", customers.customer),
    Route("/alerts", alerts.alert_list),
    Route("/alerts/{outbox_id:int}/retry", alerts.retry, methods=["POST"]),
    Route("/mappings", mappings.mapping_list),
    Route("/mappings/{job}", mappings.editor, methods=["GET"]),
    Route("/mappings/{job}/check", mappings.check, methods=["POST"]),
    Route("/mappings/{job}", mappings.save, methods=["POST"]),
    Route("/runs/{run_id}", overview.run_detail),
    Route("/users", users.user_list),
    Route("/users", users.save_user, methods=["POST"]),
    Route("/users/{name}/remove", users.remove_user, methods=["POST"]),
    Route("/changes", users.changes),
    Route("/settings", settings.settings),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]


def console_app(
    config_path: Path,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Starlette:
    """The console for the dealbridge configured in ``config_path``."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        config = load_config(config_path)
        await migrate_async(config.state.url)
        store = make_engine(config.state.url)
        async with write_tx(store) as conn:
            key = await signing_key(conn, clock())
        app.state.console = ConsoleState(
            config_path=config_path,
            config=config,
            store=store,
            sessions=Sessions(key, config.web.session_minutes * 60),
            clock=clock,
            transports=dict(transports or {}),
        )
        try:
            yield
        finally:
            await store.dispose()

    return Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            NotSignedIn: _not_signed_in,
            Refused: _refused,
            HTTPException: _http_error,
        },
    )
