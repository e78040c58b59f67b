"""The daemon's HTTP server: the health app (and every mounted route) under uvicorn."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeAlias

import uvicorn
from starlette.routing import BaseRoute

from sync_jobs.app.health import ReadyCheck, Refresh, health_app
from sync_jobs.app.listening import listening_socket
from sync_jobs.app.metrics import Metrics

RouteSource: TypeAlias = BaseRoute | Callable[[Any], Iterable[BaseRoute]]
"""A route, or a function of the running daemon that returns routes (called once, when the
server starts, so it may use the daemon's open store and config)."""


class HealthServer:
    """/healthz, /readyz, /metrics and the mounted routes, on one host and port."""

    def __init__(self, host: str, port: int, routes: Iterable[RouteSource] = ()) -> None:
        self.host = host
        self.port = port
        self._sources: list[RouteSource] = list(routes)
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None

    def listen(self) -> None:
        """Open the port now (:class:`~sync_jobs.app.listening.PortUnavailable` if it cannot
        be), so a port in use stops the daemon before it runs anything."""
        self._socket = listening_socket(self.host, self.port, "--health-port")

    def close(self) -> None:
        """Give the port back unserved (the daemon stopped before serving)."""
        if self._socket is not None and self._server is None:
            self._socket.close()
            self._socket = None

    def mount(self, *routes: RouteSource) -> None:
        """Serve these routes too (before the server starts)."""
        if self._server is not None:
            raise RuntimeError("routes are mounted before the health server starts")
        self._sources += routes

    def routes(self, owner: Any) -> list[BaseRoute]:
        """The mounted routes, factories called with ``owner`` (the running daemon)."""
        built: list[BaseRoute] = []
        for source in self._sources:
            built += [source] if isinstance(source, BaseRoute) else list(source(owner))
        return built

    async def serve(
        self, metrics: Metrics, ready: ReadyCheck, refresh: Refresh, owner: Any
    ) -> None:
        """Serve until :meth:`stop`, on the socket :meth:`listen` opened."""
        if self._socket is None:
            self.listen()
        assert self._socket is not None
        app = health_app(metrics, ready, refresh, self.routes(owner))
        config = uvicorn.Config(
            app, host=self.host, port=self.port, log_level="warning", lifespan="off"
        )
        self._server = _QuietServer(config)
        await self._server.serve(sockets=[self._socket])

    def stop(self) -> None:
        """Ask the server to close its sockets and return."""
        if self._server is not None:
            self._server.should_exit = True


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM, SIGINT and SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
