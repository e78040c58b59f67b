"""The alert outbox end to end: conflicts raise signed webhooks that are never lost, never
repeated, and survive crashes and outages."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.world import REPO_ROOT, build_world, credentials, world_doc
from sync_jobs.alerts.channels import build_channel
from sync_jobs.alerts.outbox import Dispatcher
from sync_jobs.alerts.webhook import verify_signature
from sync_jobs.app.resolve import resolve
from sync_jobs.config.app import parse_config
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import Engine, utcnow
from sync_jobs.run.runner import open_engine, run_job
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
SECRET = "whsec_ZGVhbGJyaWRnZS10ZXN0LXNpZ25pbmcta2V5"
JOBS = ("west", "emea", "apac")


class Receiver:
    """A webhook receiver that verifies every signature; it can be switched off (outage)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.down_with: int | None = None
        self.bad_signatures = 0

    async def hook(self, request: Request) -> Response:
        if self.down_with is not None:
            return Response("unavailable", status_code=self.down_with)
        body = await request.body()
        if not verify_signature(SECRET, dict(request.headers), body):
            self.bad_signatures += 1
            return Response("bad signature", status_code=401)
        self.received.append(json.loads(body))
        return JSONResponse({"ok": True})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    def keys(self) -> Counter[str]:
        return Counter(a["id"] for a in self.received)


class Box:
    def __init__(self, engine: Engine, connections: Connections, receiver: Receiver) -> None:
        self.engine = engine
        self.connections = connections
        self.receiver = receiver

    async def run(self) -> None:
        for job in JOBS:
            await run_job(self.engine, self.connections, job)

    def dispatcher(self, later: timedelta = timedelta(0)) -> Dispatcher:
        alerts = self.engine.config.alerts
        transport = httpx.ASGITransport(app=self.receiver.app())
        channels = {"hook": build_channel("hook", alerts.channels["hook"], transport)}
        return Dispatcher(self.engine.store, alerts, channels, lambda: utcnow() + later)

    async def outbox(self) -> list[Any]:
        async with read_tx(self.engine.store) as conn:
            return list(await conn.execute(sa.select(t.outbox)))


@pytest.fixture
async def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Box]:
    for name, value in credentials("freshdesk").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DEALBRIDGE_TEST_WEBHOOK_SECRET", SECRET)
    world = build_world(tmp_path, "freshdesk", fast=True)
    doc = world_doc(tmp_path, "freshdesk", fast=True)
    doc["alerts"] = {
        "channels": {
            "hook": {
                "type": "webhook",
                "url": "http://receiver.test/hook",
                "secret": "${DEALBRIDGE_TEST_WEBHOOK_SECRET}",
            }
        },
        "routes": [{"channels": ["hook"]}],
    }
    config = parse_config(doc, str(REPO_ROOT / "config.yaml"), REPO_ROOT)
    engine = await open_engine(config)
    connections = Connections(config.connectors, world.transports())
    yield Box(engine, connections, Receiver())
    await connections.aclose()
    await engine.store.dispose()


async def test_an_alert_survives_a_crash_between_raise_and_send(box: Box) -> None:
    await box.run()
    queued = await box.outbox()
    assert queued, "the conflicts of the demo world raised alerts"
    assert {r.status for r in queued} == {"pending"}
    # The process dies here; a new one (a new dispatcher) delivers what was committed.
    report = await box.dispatcher().deliver_due()
    assert report.sent == len(queued)
    assert set(box.receiver.keys().values()) == {1}
    assert box.receiver.bad_signatures == 0


async def test_an_outage_then_recovery_delivers_each_alert_once(box: Box) -> None:
    await box.run()
    box.receiver.down_with = 503
    first = await box.dispatcher().deliver_due()
    assert first.sent == 0
    assert first.retried == len(await box.outbox())
    box.receiver.down_with = None
    assert (await box.dispatcher().deliver_due()).sent == 0, "backing off, not hammering"
    later = await box.dispatcher(later=timedelta(hours=2)).deliver_due()
    assert later.sent == first.retried
    assert set(box.receiver.keys().values()) == {1}


async def test_repeated_runs_raise_each_alert_once(box: Box) -> None:
    await box.run()
    await box.dispatcher().deliver_due()
    sent = len(box.receiver.received)
    await box.run()
    await box.run()
    await box.dispatcher().deliver_due()
    assert len(box.receiver.received) == sent


async def test_a_refusing_receiver_parks_the_alert_with_its_reason(box: Box) -> None:
    await box.run()
    box.receiver.down_with = 404
    report = await box.dispatcher().deliver_due()
    assert report.parked == len(await box.outbox())
    rows = await box.outbox()
    assert {r.status for r in rows} == {"dead"}
    assert all("404" in (r.last_error or "") for r in rows)


async def test_resolving_a_conflict_sends_a_closing_message(box: Box) -> None:
    await box.run()
    await box.dispatcher().deliver_due()
    async with read_tx(box.engine.store) as conn:
        conflict = (
            await conn.execute(
                sa.select(t.conflict).where(t.conflict.c.kind == "territory_disagreement")
            )
        ).first()
    assert conflict is not None
    await resolve(
        box.engine.store,
        conflict.id,
        "territory=West",
        by="lead",
        now=utcnow(),
        alerts=box.engine.config.alerts,
    )
    await box.dispatcher().deliver_due()
    closing = [a for a in box.receiver.received if a["phase"] == "closed"]
    assert len(closing) == 1
    assert closing[0]["thread"] == f"conflict:{conflict.id}"


async def test_a_digest_channel_gets_one_summary_per_interval(box: Box) -> None:
    alerts = box.engine.config.alerts.model_copy(update={"digests": {"hook": "1h"}})
    box.engine.config = box.engine.config.model_copy(update={"alerts": alerts})
    await box.run()
    queued = len(await box.outbox())
    assert (await box.dispatcher().deliver_due()).sent == 0, "held until the hour ends"
    report = await box.dispatcher(later=timedelta(hours=1)).deliver_due()
    assert report.sent == queued
    (digest,) = box.receiver.received
    assert digest["kind"] == "digest"
    assert f"{queued} alert(s)" in digest["title"]
