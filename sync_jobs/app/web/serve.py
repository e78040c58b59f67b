"""Serving the console with uvicorn: alone (``dealbridge web``) or inside the daemon."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from sync_jobs.app.web.app import console_app


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers when the daemon owns them."""

    def __init__(self, config: uvicorn.Config, *, own_signals: bool) -> None:
        super().__init__(config)
        self.own_signals = own_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if self.own_signals:
            with super().capture_signals():
                yield
        else:
            yield


async def serve_console(
    config_path: Path,
    host: str,
    port: int,
    stop: asyncio.Event | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve until Ctrl-C (alone) or until ``stop`` is set (in the daemon); on ``sock`` when
    the caller opened the port already (the daemon does, before it starts any job)."""
    config = uvicorn.Config(
        console_app(config_path),
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=False,  # the console reads X-Forwarded-* itself, if web.trusted_proxy
    )
    server = _Server(config, own_signals=stop is None)
    sockets = None if sock is None else [sock]
    if stop is None:
        await server.serve(sockets=sockets)
        return
    serving = asyncio.create_task(server.serve(sockets=sockets))
    await stop.wait()
    server.should_exit = True
    await serving
