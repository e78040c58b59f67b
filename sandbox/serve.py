"""``dealbridge sandbox serve``: the demo world's simulators as real servers on loopback.

Every registered kind whose demo entry names a port (Salesforce, HubSpot, Zendesk and Freshdesk
on 8701-8704, the ports config.yaml's sandbox URLs use; the newer kinds after them) is served
at that port shifted by ``base_port - 8701``; the APAC spreadsheet is written to ``sheets``, and
``latency`` slows every answer (to watch the daemon, or to kill one mid-run in tests).
Servers stop on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console

from sandbox.spreadsheet import write_demo_sheets
from sandbox.world import demo_specs
from sandbox.world import simulator as seeded

DEFAULT_BASE_PORT = 8701


def simulator(kind: str) -> Any:
    """A seeded simulator object of one vendor."""
    return seeded(kind)


def served_ports(base_port: int = DEFAULT_BASE_PORT) -> dict[str, int]:
    """The port of each served kind, by kind."""
    return {
        spec.kind: spec.demo.port - DEFAULT_BASE_PORT + base_port
        for spec in demo_specs()
        if spec.demo is not None and spec.demo.port is not None
    }


async def serve_all(
    host: str, base_port: int, console: Console, *, sheets: Path | None = None, latency: float = 0.0
) -> None:
    """Run every simulator until interrupted."""
    if sheets is not None:
        write_demo_sheets(sheets)
        console.print(f"{'spreadsheet':<12} {sheets}")
    servers = []
    for kind, port in sorted(served_ports(base_port).items(), key=lambda item: item[1]):
        sim = simulator(kind)
        sim.controls.latency = latency
        sim.controls.keep_log = False  # a long-running server must not grow without bound
        config = uvicorn.Config(sim.app, host=host, port=port, log_level="warning", lifespan="off")
        servers.append(uvicorn.Server(config))
        console.print(f"{kind:<12} http://{host}:{port}")
    console.print("Ctrl-C stops them.")
    await asyncio.gather(*(s.serve() for s in servers))
