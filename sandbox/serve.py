"""``dealbridge sandbox serve``: the demo world's simulators as real servers on loopback.

Salesforce, HubSpot, Zendesk and Freshdesk get consecutive ports from ``base_port`` (the
ports config.yaml's sandbox URLs use), the APAC spreadsheet is written to ``sheets``, and
``latency`` slows every answer (to watch the daemon, or to kill one mid-run in tests).
Servers stop on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console

from sandbox.spreadsheet import write_demo_sheets
from sandbox.world import SIMULATORS

SERVED = ("salesforce", "hubspot", "zendesk", "freshdesk")


def simulator(kind: str) -> Any:
    """A seeded simulator object of one vendor."""
    spec = SIMULATORS[kind]
    return spec.make(importlib.import_module(spec.module), False)


async def serve_all(
    host: str, base_port: int, console: Console, *, sheets: Path | None = None, latency: float = 0.0
) -> None:
    """Run every simulator until interrupted."""
    if sheets is not None:
        write_demo_sheets(sheets)
        console.print(f"{'spreadsheet':<11} {sheets}")
    servers = []
    for offset, kind in enumerate(SERVED):
        sim = simulator(kind)
        sim.controls.latency = latency
        sim.controls.keep_log = False  # a long-running server must not grow without bound
        config = uvicorn.Config(
            sim.app, host=host, port=base_port + offset, log_level="warning", lifespan="off"
        )
        servers.append(uvicorn.Server(config))
        console.print(f"{kind:<11} http://{host}:{base_port + offset}")
    console.print("Ctrl-C stops them.")
    await asyncio.gather(*(s.serve() for s in servers))
