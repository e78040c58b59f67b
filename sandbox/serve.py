"""``dealbridge sandbox serve``: every registered vendor simulator as a real server on loopback.

Each connector kind that names a simulator gets the next port from ``base_port`` in the order
of ``SERVED`` (the ports config.yaml's sandbox URLs use). Servers stop on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import uvicorn
from rich.console import Console

from connectors.registry import get_spec

SERVED = ("salesforce", "hubspot", "zendesk", "freshdesk")


def load_app(kind: str) -> Any:
    """The seeded demo app of one vendor simulator."""
    spec = get_spec(kind)
    if spec.simulator is None:
        raise LookupError(f"connector kind {kind!r} has no simulator")
    module_name, _, attr = spec.simulator.partition(":")
    return getattr(importlib.import_module(module_name), attr)()


async def serve_all(host: str, base_port: int, console: Console) -> None:
    """Run every simulator until interrupted."""
    servers = []
    for offset, kind in enumerate(SERVED):
        port = base_port + offset
        config = uvicorn.Config(load_app(kind), host=host, port=port, log_level="warning",
                                lifespan="off")
        servers.append(uvicorn.Server(config))
        console.print(f"{kind:<11} http://{host}:{port}")
    console.print("Ctrl-C stops them.")
    await asyncio.gather(*(s.serve() for s in servers))
