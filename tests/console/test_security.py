"""Every state-changing route refuses without the CSRF token and without the role; deal text
is shown as text; no secret reaches a page."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from starlette.routing import Route

from sync_jobs.app.web.app import ROUTES
from sync_jobs.config.app import load_config
from sync_jobs.store import tables as t
from sync_jobs.store.db import make_engine, write_tx
from tests.console.conftest import ConsoleWorld, csrf_of
from tests.console.testclient import TestClient

PARAMS = {"conflict_id": "1", "outbox_id": "1", "job": "west", "name": "vic"}
NEEDS = {"/logout": "viewer", "/login": None}
"""The role each change needs beyond the default for its page group."""


def changing_routes() -> list[tuple[str, str]]:
    """(path, least role) of every POST route but the sign-in form's."""
    found = []
    for route in ROUTES:
        if isinstance(route, Route) and "POST" in (route.methods or set()):
            if route.path == "/login":
                continue
            path = route.path
            for name, value in PARAMS.items():
                path = path.replace(f"{{{name}:int}}", value).replace(f"{{{name}}}", value)
            found.append((path, _least_role(route.path)))
    return found


def _least_role(path: str) -> str:
    if path == "/logout":
        return "viewer"
    if path.startswith(("/conflicts", "/alerts")):
        return "lead"
    return "admin"


ROUTES_THAT_CHANGE = changing_routes()


def test_the_route_list_covers_every_kind_of_change() -> None:
    paths = {path for path, _ in ROUTES_THAT_CHANGE}
    assert {"/conflicts/1/resolve", "/alerts/1/retry", "/mappings/west", "/users"} <= paths


@pytest.mark.parametrize(("path", "role"), ROUTES_THAT_CHANGE)
def test_a_change_without_the_csrf_token_is_refused_with_403(
    path: str, role: str, signed_in: Callable[[str], TestClient]
) -> None:
    client = signed_in("ada")  # even an admin
    answer = client.post(path, data={"take": "target", "text": "x", "name": "x", "role": "viewer"})
    assert answer.status_code == 403
    wrong = client.post(path, data={"csrf": "not-the-token", "take": "target"})
    assert wrong.status_code == 403


@pytest.mark.parametrize(("path", "role"), [(p, r) for p, r in ROUTES_THAT_CHANGE if r != "viewer"])
def test_a_change_by_a_role_below_the_one_it_needs_is_refused_with_403(
    path: str, role: str, signed_in: Callable[[str], TestClient]
) -> None:
    below = "vic" if role == "lead" else "lee"
    client = signed_in(below)
    token = csrf_of(client)
    answer = client.post(path, data={"csrf": token, "take": "target", "text": "x"})
    assert answer.status_code == 403
    assert "role" in answer.text


def test_a_change_without_a_session_is_refused_not_redirected(
    console_world: ConsoleWorld,
) -> None:
    with console_world.client() as client:
        answer = client.post(
            "/conflicts/1/resolve", data={"take": "target"}, follow_redirects=False
        )
    assert answer.status_code == 403


def test_pages_of_a_higher_role_are_refused(signed_in: Callable[[str], TestClient]) -> None:
    lead = signed_in("lee")
    assert lead.get("/mappings").status_code == 403
    assert lead.get("/users").status_code == 403
    viewer = signed_in("vic")
    assert viewer.get("/conflicts/1/resolve?take=target").status_code == 403


def test_deal_text_holding_markup_is_shown_as_text(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>"

    async def plant() -> None:
        store = make_engine(load_config(console_world.config_path).state.url)
        try:
            async with write_tx(store) as conn:
                await conn.execute(
                    sa.update(t.conflict)
                    .where(t.conflict.c.id == 1)
                    .values(details={"summary": hostile, "deal": hostile, "deal_name": hostile})
                )
                await conn.execute(sa.update(t.identity).values(name=hostile))
        finally:
            await store.dispose()

    asyncio.run(plant())
    client = signed_in("vic")
    for path in ("/conflicts?status=open", "/conflicts/1", "/customers?q=script"):
        page = client.get(path).text
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page, path
    assert "&lt;script&gt;alert(" in client.get("/conflicts/1").text


def test_every_answer_carries_a_strict_content_security_policy(
    signed_in: Callable[[str], TestClient],
) -> None:
    answer = signed_in("vic").get("/")
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"


def test_no_secret_from_the_environment_appears_on_any_page(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    secrets = [v for k, v in os.environ.items() if k.startswith("DEALBRIDGE_") and len(v) >= 8]
    assert secrets, "the sandbox credentials are in the environment"
    client = signed_in("ada")
    pages = [
        "/",
        "/conflicts",
        "/conflicts/1",
        "/customers?q=a",
        "/alerts",
        "/mappings",
        "/mappings/west",
        "/users",
        "/changes",
        "/settings",
    ]
    for path in pages:
        text = client.get(path).text
        for secret in secrets:
            assert secret not in text, f"{path} shows a secret"


def test_the_settings_page_shows_the_wiring_and_hides_every_secret(
    signed_in: Callable[[str], TestClient],
) -> None:
    page = signed_in("vic").get("/settings").text
    assert "zendesk" in page
    assert "base_url" in page
    assert "secret, not shown" in page


def test_a_store_url_loses_its_password() -> None:
    from sync_jobs.app.web.pages.settings import without_password

    shown = without_password("postgresql://dealbridge:hunter22@db.internal:5432/dealbridge")
    assert shown == "postgresql://dealbridge:***@db.internal:5432/dealbridge"
