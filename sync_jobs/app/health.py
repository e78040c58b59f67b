"""The daemon's small HTTP server: /healthz, /readyz and /metrics (Prometheus text format),
plus whatever routes other parts of the application mount beside them.

Mounting a route (a console page, a webhook receiver): hand the daemon a Starlette route, or
a function that builds routes once the daemon's store and config are open, before it runs::

    daemon = Daemon(config_path, options)
    daemon.mount(Route("/hooks/example", receive_example, methods=["POST"]))
    daemon.mount(lambda running: [Mount("/console", app=console_app(running.engine))])

(``DaemonOptions.routes`` takes the same things.) Mounted routes are served on the health
port next to the three built-in ones, which always win a clash of paths.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sync_jobs.app.metrics import Metrics

ReadyCheck = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
Refresh = Callable[[], Awaitable[None]]


def health_app(
    metrics: Metrics, ready: ReadyCheck, refresh: Refresh, extra: Sequence[BaseRoute] = ()
) -> Starlette:
    """Build the app; ``ready`` reports store reachability and each job's last outcome;
    ``extra`` are the routes mounted beside the built-in ones."""

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(_request: Request) -> Response:
        ok, details = await ready()
        return JSONResponse({"ready": ok, **details}, status_code=200 if ok else 503)

    async def metrics_endpoint(_request: Request) -> Response:
        await refresh()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    built_in: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
    ]
    # Starlette matches in order: the probes an orchestrator relies on come first.
    return Starlette(routes=[*built_in, *extra])
