"""The benchmark world's simulators as real servers, in their own process.

``python -m bench.servers --deals N --records M --scale S --latency L --port P`` seeds a
Salesforce org (the West territory: N special-terms deals over M accounts) and a Zendesk
account (the M organizations they are, matched by customer number = external id), then
serves Salesforce on port P, Zendesk on P+1 and a control API on P+2, and prints ``ready``.

Zendesk's documented budgets are multiplied by ``scale`` (700 requests/min, 10 exports/min)
and its bulk-job time divided by it, so a run is shorter while every ratio stays the same.
Being a separate process, the simulators cost dealbridge no CPU or memory in the figures.

Control API (JSON): ``GET /counts`` (requests by vendor, method, route and status),
``POST /reset``, ``POST /edit?first=&count=&discount=`` (reps change deals; answers when, in
epoch seconds), ``GET /note?number=`` (an organization's notes, as an agent sees them) and
``GET /seen?number=&text=&timeout=`` (waits until those notes contain ``text`` and answers
when it first saw them do so: checked every 20 ms inside this process, so a waiting benchmark
costs no HTTP traffic).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.sales.salesforce import simulator as salesforce
from connectors.service.zendesk import simulator as zendesk
from sandbox.controls import ASGIApp, Message, Receive, Scope, Send

ID_IN_PATH = re.compile(r"/\d+|/[0-9a-f]{16,}|/[0-9A-Za-z]{15,18}(?=/|$)")
ZENDESK_RPM = 700
ZENDESK_EXPORTS_PER_MINUTE = 10
ZENDESK_JOB_SECONDS = 1.0
"""How long a 100-record update_many job takes before scaling (Zendesk: about a second)."""


def customer_number(n: int) -> str:
    """The shared key of customer ``n`` (Salesforce Customer_Number__c = Zendesk external_id)."""
    return f"BENCH-{n:07d}"


class Counting:
    """ASGI middleware counting requests by (vendor, method, route shape, status)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def wrap(self, vendor: str, app: ASGIApp) -> ASGIApp:
        """``app`` with its answers counted."""

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            route = ID_IN_PATH.sub("/{id}", scope["path"])
            status = 0

            async def counted(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            await app(scope, receive, counted)
            self.counts[f"{vendor} {scope['method']} {route} {status}"] += 1

        return middleware


class World:
    """The seeded simulators plus what the control API does to them."""

    def __init__(self, deals: int, records: int, scale: float, latency: float) -> None:
        self.crm = salesforce.SalesforceSimulator(api_limit=10**9)
        self.desk = zendesk.ZendeskSimulator(
            requests_per_minute=int(ZENDESK_RPM * scale),
            incremental_per_minute=int(ZENDESK_EXPORTS_PER_MINUTE * scale),
            job_delay=ZENDESK_JOB_SECONDS / scale,
        )
        for sim in (self.crm, self.desk):
            sim.controls.keep_log = False
            sim.controls.latency = latency
        self.deal_ids: list[str] = []
        self.orgs: dict[str, int] = {}
        self._seed(deals, max(1, records))

    def _seed(self, deals: int, records: int) -> None:
        owner = self.crm.user_for("Bench Rep", "rep@seller.example")
        past = datetime.now(UTC) - timedelta(hours=2)  # exports skip the last minute
        accounts = []
        for n in range(records):
            number = customer_number(n)
            accounts.append(
                self.crm.add_account(
                    f"Bench Customer {n}",
                    website=f"https://bench{n}.example",
                    customer_number=number,
                )
            )
            org = self.desk.add_organization(  # a second apart: the export pages by time
                f"Bench Customer {n}",
                domain_names=[f"bench{n}.example"],
                external_id=number,
                updated_at=past - timedelta(seconds=records - n),
            )
            self.orgs[number] = int(org["id"])
        spread = timedelta(hours=1) / max(1, deals)
        for n in range(deals):
            self.deal_ids.append(
                self.crm.add_deal(
                    f"Bench deal {n}",
                    account_id=accounts[n % records],
                    owner_id=owner,
                    modstamp=past - timedelta(hours=1) + n * spread,  # reps work over an hour
                    Special_Discount__c=float(n % 20),
                    Payment_Terms__c="Net 30",
                    Terms_Valid_Until__c="2099-12-31",
                    Approved_By__c="VP Sales",
                )
            )

    async def edit(self, request: Request) -> JSONResponse:
        """Reps change ``count`` deals from ``first`` on (a new discount, SystemModstamp now)."""
        first = int(request.query_params.get("first", "0"))
        count = int(request.query_params.get("count", "1"))
        discount = float(request.query_params.get("discount", "19"))
        changed = []
        for deal_id in self.deal_ids[first : first + count]:
            self.crm.update_deal(deal_id, Special_Discount__c=discount)
            changed.append(deal_id)
        return JSONResponse({"changed": len(changed), "at": time.time()})

    async def note(self, request: Request) -> JSONResponse:
        """The notes of the organization with customer number ``number``."""
        org_id = self.orgs[request.query_params["number"]]
        return JSONResponse({"notes": self._notes(org_id)})

    async def seen(self, request: Request) -> JSONResponse:
        """When the notes of customer ``number`` first held ``text`` (epoch s; null: timed out)."""
        org_id = self.orgs[request.query_params["number"]]
        text = request.query_params["text"]
        deadline = time.monotonic() + float(request.query_params.get("timeout", "60"))
        while text not in self._notes(org_id):
            if time.monotonic() >= deadline:
                return JSONResponse({"seen_at": None})
            await asyncio.sleep(0.02)
        return JSONResponse({"seen_at": time.time()})

    def _notes(self, org_id: int) -> str:
        return str(self.desk.record("organization", org_id).get("notes") or "")


def control_app(world: World, counting: Counting) -> Starlette:
    """The benchmark's handle on the world."""

    async def counts(_: Request) -> JSONResponse:
        return JSONResponse(dict(counting.counts))

    async def reset(_: Request) -> JSONResponse:
        counting.counts.clear()
        return JSONResponse({})

    return Starlette(
        routes=[
            Route("/counts", counts),
            Route("/reset", reset, methods=["POST"]),
            Route("/edit", world.edit, methods=["POST"]),
            Route("/note", world.note),
            Route("/seen", world.seen),
        ]
    )


async def serve(args: argparse.Namespace) -> None:
    """Seed, serve on three ports, say ``ready``."""
    world = World(args.deals, args.records, args.scale, args.latency)
    counting = Counting()
    apps: list[Any] = [
        counting.wrap("salesforce", world.crm.app),
        counting.wrap("zendesk", world.desk.app),
        control_app(world, counting),
    ]
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=args.port + offset,
                log_level="warning",
                lifespan="off",
                access_log=False,
            )
        )
        for offset, app in enumerate(apps)
    ]
    tasks = [asyncio.create_task(s.serve()) for s in servers]
    while not all(s.started for s in servers):  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    await asyncio.gather(*tasks)


@contextmanager
def serving(
    deals: int, records: int, *, scale: float, latency: float, port: int
) -> Iterator[subprocess.Popen[str]]:
    """This module as a child process (Salesforce on ``port``, Zendesk on ``port + 1``, the
    control API on ``port + 2``), yielded once it has seeded its world and printed ``ready``;
    stopped on leaving."""
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "bench.servers", "--deals", str(deals)),
            *("--records", str(records), "--scale", str(scale)),
            *("--latency", str(latency), "--port", str(port)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("bench.servers did not start")
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()  # (a pipe left open warns when collected)


def main() -> None:
    """Command line: see the module doc."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=1000)
    parser.add_argument("--records", type=int, default=800)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=8811)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
