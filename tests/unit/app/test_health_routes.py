"""Routes mounted on the daemon's health server are served beside /healthz, /readyz and
/metrics, which keep their paths whatever is mounted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from sync_jobs.app.daemon import Daemon, DaemonOptions
from sync_jobs.app.daemon.health_server import HealthServer
from sync_jobs.app.health import health_app
from sync_jobs.app.metrics import Metrics

pytestmark = pytest.mark.anyio


async def ready() -> tuple[bool, dict[str, Any]]:
    return True, {"store": True}


async def refresh() -> None:
    return None


def text(body: str) -> Any:
    async def endpoint(_request: Request) -> Response:
        return PlainTextResponse(body)

    return endpoint


async def get(routes: list[BaseRoute], path: str) -> httpx.Response:
    app = health_app(Metrics(), ready, refresh, routes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://daemon") as client:
        return await client.get(path)


async def test_a_mounted_route_is_served_next_to_the_probes() -> None:
    routes: list[BaseRoute] = [Route("/console", text("console"))]

    assert (await get(routes, "/console")).text == "console"
    assert (await get(routes, "/healthz")).json() == {"status": "alive"}


async def test_a_mounted_route_cannot_take_over_a_probe() -> None:
    routes: list[BaseRoute] = [Route("/readyz", text("not a probe"))]

    answer = await get(routes, "/readyz")

    assert answer.json() == {"ready": True, "store": True}


def test_route_factories_are_called_with_the_running_daemon_when_the_server_starts() -> None:
    server = HealthServer("127.0.0.1", 0, [Route("/a", text("a"))])
    seen: list[object] = []

    def factory(owner: object) -> list[BaseRoute]:
        seen.append(owner)
        return [Route("/b", text("b"))]

    server.mount(factory)
    routes = server.routes("the daemon")

    assert [getattr(r, "path", None) for r in routes] == ["/a", "/b"]
    assert seen == ["the daemon"]


def test_the_daemon_takes_routes_from_its_options_and_from_mount() -> None:
    daemon = Daemon(
        config_path=Path("config.yaml"),
        options=DaemonOptions(routes=[Route("/status-page", text("status"))]),
    )
    daemon.mount(Route("/console", text("console")))

    paths = [getattr(r, "path", None) for r in daemon.server.routes(daemon)]

    assert paths == ["/status-page", "/hooks/{job}", "/hooks/{job}/desk", "/console"]
