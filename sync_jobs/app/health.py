"""The daemon's small HTTP server: /healthz, /readyz and /metrics (Prometheus text format)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync_jobs.app.metrics import Metrics

ReadyCheck = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
Refresh = Callable[[], Awaitable[None]]


def health_app(metrics: Metrics, ready: ReadyCheck, refresh: Refresh) -> Starlette:
    """Build the app; ``ready`` reports store reachability and each job's last outcome."""

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(_request: Request) -> Response:
        ok, details = await ready()
        return JSONResponse({"ready": ok, **details}, status_code=200 if ok else 503)

    async def metrics_endpoint(_request: Request) -> Response:
        await refresh()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
        ]
    )
