"""The demo world's simulators as servers on free loopback ports, for tests with real processes.

``python -m tests.e2e.served --latency 0.05`` seeds the simulators of the shipped config's
territories and of every demo desk (budgets lifted, as ``build_world(fast=True)`` does), binds
each to a port the kernel picks (never a fixed one, so parallel test runs cannot collide),
serves them, and prints one JSON line once listening: ``{"salesforce": port, ...,
"zendesk": port, "freshdesk": port, ..., "control": port}``.

The control port answers ``GET /writes`` with the writes each simulator accepted (requests
other than GET that it answered with a success), by vendor: what a "no duplicate write" test
counts. A write whose client was killed before the simulator handled it is not one: it never
took effect, and the rerun must make it.

``--stall S`` holds the answer to each simulator's second write for S seconds, once (the write
has taken effect; its answer waits): a test that sees a run's first write then knows the run is
still writing, however late a loaded machine lets it look.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.registry import demo_targets
from sandbox.controls import ASGIApp, Message, Receive, Scope, Send
from sandbox.world import default_territories, simulator, world_doc


def vendors() -> list[str]:
    """The kinds served: the shipped territories' sources and every demo desk."""
    sources = world_doc(Path(), jobs=default_territories())["connectors"]
    kinds = [section["kind"] for name, section in sources.items() if "base_url" in section]
    return list(dict.fromkeys([*kinds, *demo_targets()]))


def _bound() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue from now on, before the server starts accepting
    return sock


def _counting(app: ASGIApp, accepted: list[str], stall: float = 0.0) -> ASGIApp:
    """``app``, noting each write it answers with a success (it took effect), and holding the
    answer to its second write ``stall`` seconds."""
    arrived = 0

    async def counted(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal arrived
        if scope["type"] != "http" or scope["method"] == "GET":
            await app(scope, receive, send)
            return
        arrived += 1
        held = stall if arrived == 2 else 0.0

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                if int(message["status"]) < 400:
                    accepted.append(f"{scope['method']} {scope['path']}")
                await asyncio.sleep(held)  # counted at once: it has taken effect
            await send(message)

        await app(scope, receive, noting)

    return counted


def _control(accepted: dict[str, list[str]]) -> Starlette:
    async def writes(_request: Request) -> JSONResponse:
        return JSONResponse(accepted)

    return Starlette(routes=[Route("/writes", writes)])


async def serve(latency: float, stall: float = 0.0) -> None:
    """Serve every simulator (and the control API) until killed."""
    kinds = vendors()
    accepted: dict[str, list[str]] = {kind: [] for kind in kinds}
    apps: dict[str, Any] = {}
    for kind in kinds:
        sim = simulator(kind, fast=True)
        sim.controls.latency = latency
        sim.controls.keep_log = False
        apps[kind] = _counting(sim.app, accepted[kind], stall)
    apps["control"] = _control(accepted)
    servers, ports = [], {}
    for name, app in apps.items():
        sock = _bound()
        ports[name] = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        servers.append(uvicorn.Server(config).serve(sockets=[sock]))
    tasks = [asyncio.ensure_future(s) for s in servers]
    sys.stdout.write(json.dumps(ports) + "\n")
    sys.stdout.flush()
    await asyncio.gather(*tasks)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--stall", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve(args.latency, args.stall))


if __name__ == "__main__":
    main()
