"""Webhooks ring a real daemon's doorbell: a signed HubSpot notification runs its job (the poll
is an hour away, so the run is the doorbell's; how soon is measured by ``bench.freshness``, not
here, since the test machine may be loaded), a burst makes one run, a notification during a
run makes exactly one follow-up; and what is not a genuine, fresh notification for a known,
running job runs nothing."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from ruamel.yaml import YAML
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from connectors.sales.hubspot.webhook import signature_v3
from connectors.service.zendesk.webhook import signature as zendesk_signature
from sandbox.ports import free_port
from sandbox.world import REPO_ROOT, SandboxWorld, build_world, credentials, world_doc
from sync_jobs.app.daemon import Daemon, DaemonOptions
from sync_jobs.app.hooks import HookReceiver
from sync_jobs.domain.values import same_value
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx
from tests.e2e.test_daemon import wait_until_up

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
SECRET = "hubspot-app-client-secret-for-tests"
DESK_SECRET = "zendesk-signing-secret-for-tests"


async def until(condition: Callable[[], bool], seconds: float) -> None:
    """Return once ``condition`` holds; fail after ``seconds``."""
    async with asyncio.timeout(seconds):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


@dataclass
class Hooked:
    daemon: Daemon
    world: SandboxWorld
    port: int
    runs: list[tuple[str, float, float]] = field(default_factory=list)
    """(job, started, finished) of every run since the start-up runs, monotonic seconds."""
    events: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def hubspot(self, client: httpx.AsyncClient, *, sent: float | None = None) -> int:
        """POST one signed HubSpot notification (a new event id each time) to /hooks/emea."""
        self.events += 1
        body = json.dumps(
            [
                {
                    "eventId": self.events,
                    "subscriptionId": 2881778,
                    "portalId": 62515,
                    "occurredAt": int(time.time() * 1000),
                    "subscriptionType": "deal.propertyChange",
                    "attemptNumber": 0,
                    "objectId": 9001,
                    "propertyName": "special_discount",
                    "propertyValue": "12",
                }
            ]
        ).encode()
        url = f"{self.base}/hooks/emea"
        stamp = str(int((time.time() if sent is None else sent) * 1000))
        headers = {
            "X-HubSpot-Signature-v3": signature_v3(SECRET, "POST", url, body, stamp),
            "X-HubSpot-Request-Timestamp": stamp,
            "Content-Type": "application/json",
        }
        return (await client.post(url, content=body, headers=headers)).status_code

    def emea_runs(self) -> list[tuple[str, float, float]]:
        return [r for r in self.runs if r[0] == "emea"]

    async def quiet(self, seconds: float = 0.6, job: str = "emea") -> None:
        """Wait until no doorbell run of ``job`` is due or going, then ``seconds`` more."""
        receiver = self.daemon_receiver()
        await until(lambda: not receiver.doorbell.busy(job), 20)
        await asyncio.sleep(seconds)

    def daemon_receiver(self) -> HookReceiver:
        return self.daemon.hooks


def hooked_config(folder: Path) -> Path:
    doc = world_doc(folder, "zendesk", fast=True, mappings=folder / "mappings")
    doc["connectors"]["hubspot_emea"]["webhook"] = {"secret": "${TEST_HUBSPOT_APP_SECRET}"}
    doc["connectors"]["zendesk"]["webhook"] = {"secret": "${TEST_ZENDESK_SIGNING_SECRET}"}
    doc["jobs"]["apac"]["enabled"] = False  # a paused job: its webhooks run nothing
    path = folder / "config.yaml"
    with path.open("w", encoding="utf-8") as handle:
        YAML().dump(doc, handle)
    return path


@pytest.fixture
async def hooked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hooked]:
    for name, value in credentials("zendesk").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TEST_HUBSPOT_APP_SECRET", SECRET)
    monkeypatch.setenv("TEST_ZENDESK_SIGNING_SECRET", DESK_SECRET)
    shutil.copytree(REPO_ROOT / "mappings", tmp_path / "mappings")
    world = build_world(tmp_path, "zendesk", fast=True)
    config = hooked_config(tmp_path)
    port = free_port()
    daemon = Daemon(
        config,
        DaemonOptions(
            health_port=port,
            transports=world.transports(),
            reload_every=3600,
            dispatch_every=3600,
            check_every=3600,
            drain_seconds=5,
        ),
    )
    state = Hooked(daemon, world, port)
    run_once = daemon.run_once

    async def spy(job: str) -> None:
        started = time.monotonic()
        await run_once(job)
        state.runs.append((job, started, time.monotonic()))

    daemon.run_once = spy  # type: ignore[method-assign]
    task = asyncio.create_task(daemon.run())
    await wait_until_up(port, task)
    # the start-up runs of the enabled jobs
    await until(
        lambda: {j for j, _, _ in state.runs} >= {"west", "emea"} and not daemon._running, 30
    )
    state.runs.clear()
    yield state
    daemon.stop()
    await asyncio.wait_for(task, 15)


async def test_a_signed_hubspot_notification_runs_its_job_once(hooked: Hooked) -> None:
    async with httpx.AsyncClient() as client:
        assert await hooked.hubspot(client) == 202
        await until(lambda: bool(hooked.emea_runs()), 20)
    await hooked.quiet()
    assert len(hooked.emea_runs()) == 1
    assert [r[0] for r in hooked.runs] == ["emea"], "no other job ran"


async def test_a_burst_of_ten_notifications_makes_one_run(hooked: Hooked) -> None:
    # Ten at once arrive within the settle time even on a loaded machine, given two seconds
    # of it (the daemon's is 0.25 s; the doorbell's unit tests pin the timing itself).
    hooked.daemon_receiver().doorbell.settle = 2.0
    async with httpx.AsyncClient() as client:
        statuses = await asyncio.gather(*(hooked.hubspot(client) for _ in range(10)))
    assert statuses == [202] * 10
    await hooked.quiet()
    assert len(hooked.emea_runs()) == 1


async def test_notifications_during_a_run_make_exactly_one_follow_up(hooked: Hooked) -> None:
    hooked.world.simulators["hubspot_emea"].controls.latency = 0.15  # a run lasts a while
    async with httpx.AsyncClient() as client:
        assert await hooked.hubspot(client) == 202
        await until(lambda: hooked.daemon_receiver().doorbell._jobs["emea"].running, 20)
        for _ in range(5):
            assert await hooked.hubspot(client) == 202
    await hooked.quiet()
    runs = hooked.emea_runs()
    assert len(runs) == 2, "the run, then one follow-up"
    assert runs[1][1] >= runs[0][2], "the follow-up started after the run ended"


async def test_forged_replayed_oversized_and_misdirected_notifications_run_nothing(
    hooked: Hooked,
) -> None:
    async with httpx.AsyncClient() as client:
        forged = await client.post(
            f"{hooked.base}/hooks/emea",
            content=b"[]",
            headers={
                "X-HubSpot-Signature-v3": "bm90IGEgc2lnbmF0dXJl",
                "X-HubSpot-Request-Timestamp": str(int(time.time() * 1000)),
            },
        )
        stale = await hooked.hubspot(client, sent=time.time() - 600)
        unknown = await client.post(f"{hooked.base}/hooks/nosuchjob", content=b"{}")
        huge = await client.post(f"{hooked.base}/hooks/emea", content=b"x" * (10 * 1024 * 1024))
        polled_only = await client.post(f"{hooked.base}/hooks/west", content=b"<x/>")
    assert forged.status_code == 401
    assert SECRET not in forged.text
    assert stale == 401
    assert unknown.status_code == 404
    assert huge.status_code == 413
    assert polled_only.status_code == 401, "salesforce_west has no webhook settings: refused"
    await asyncio.sleep(0.6)
    assert hooked.runs == []


async def test_a_replayed_notification_is_refused(hooked: Hooked) -> None:
    body = b'[{"eventId": 1}]'
    url = f"{hooked.base}/hooks/emea"
    stamp = str(int(time.time() * 1000))
    headers = {
        "X-HubSpot-Signature-v3": signature_v3(SECRET, "POST", url, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    async with httpx.AsyncClient() as client:
        first = await client.post(url, content=body, headers=headers)
        again = await client.post(url, content=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 409)
    await hooked.quiet()
    assert len(hooked.emea_runs()) == 1


async def test_a_storm_is_one_run_and_one_follow_up_logged_once_and_counted(
    hooked: Hooked,
) -> None:
    async with httpx.AsyncClient() as client:
        with capture_logs() as logs:
            await asyncio.gather(*(hooked.hubspot(client) for _ in range(200)))
            forged = [client.post(f"{hooked.base}/hooks/emea", content=b"[]") for _ in range(50)]
            await asyncio.gather(*forged)
        await hooked.quiet()
        metrics = (await client.get(f"{hooked.base}/metrics")).text
    assert 1 <= len(hooked.emea_runs()) <= 2, "one run, at most one follow-up"
    refusals = [e for e in logs if e["event"] == "webhook_refused"]
    assert len(refusals) == 1, "50 forgeries, one log line"
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    counted = {
        (s.labels["job"], s.labels["outcome"]): s.value
        for s in families["dealbridge_webhooks"].samples
        if s.name.endswith("_total")
    }
    assert counted[("emea", "rejected")] == 50
    assert sum(v for (job, _), v in counted.items() if job == "emea") == 250


async def test_a_paused_jobs_notification_is_answered_and_runs_nothing(hooked: Hooked) -> None:
    # apac (paused) and emea share the desk: the same signed Zendesk notification for each.
    body = b'{"type": "zen:event-type:organization.custom_field_changed"}'
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    headers = {
        "X-Zendesk-Webhook-Signature": zendesk_signature(DESK_SECRET, stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    async with httpx.AsyncClient() as client:
        paused = await client.post(f"{hooked.base}/hooks/apac/desk", content=body, headers=headers)
        stamp2 = stamp  # a different body: a different signature
        body2 = body + b" "
        headers2 = {
            "X-Zendesk-Webhook-Signature": zendesk_signature(DESK_SECRET, stamp2, body2),
            "X-Zendesk-Webhook-Signature-Timestamp": stamp2,
        }
        desk = await client.post(f"{hooked.base}/hooks/emea/desk", content=body2, headers=headers2)
    assert paused.status_code == 202
    assert paused.json()["run"] == "paused"
    assert desk.status_code == 202
    await hooked.quiet()
    assert [r[0] for r in hooked.runs] == ["emea"], "the agent's edit ran emea; apac is paused"


async def test_a_notification_during_a_scheduled_run_waits_for_it_then_runs_once(
    hooked: Hooked,
) -> None:
    hooked.world.simulators["hubspot_emea"].controls.latency = 0.15
    tick = asyncio.create_task(hooked.daemon.run_once("emea"))  # what a scheduled tick does
    await until(lambda: hooked.daemon._running != set(), 20)
    await asyncio.sleep(0.3)  # the tick's run holds the job's lease by now
    async with httpx.AsyncClient() as client:
        with capture_logs() as logs:
            assert await hooked.hubspot(client) == 202
            await tick
            await hooked.quiet()
    runs = hooked.emea_runs()
    assert len(runs) == 2, "the scheduled run, then the doorbell's"
    assert runs[1][1] >= runs[0][2] - 0.05, "the doorbell's run waited for the scheduled one"
    skipped = [e for e in logs if "skipped" in str(e.get("reason", ""))]
    assert skipped == [], "it waited for the lease instead of being turned away"
    assert SECRET not in str(logs)


async def _written(store: AsyncEngine, field: str) -> tuple[str, Any]:
    """An organization dealbridge wrote ``field`` to, with no conflict open, and the value."""
    async with read_tx(store) as conn:
        held = sa.select(t.conflict.c.customer_key).where(
            t.conflict.c.status == "open", t.conflict.c.customer_key.is_not(None)
        )
        row = (
            await conn.execute(
                sa.select(t.field_base.c.customer_key, t.field_base.c.value)
                .where(
                    t.field_base.c.field == field,
                    t.field_base.c.customer_key.like("organization:%"),
                    t.field_base.c.customer_key.not_in(held),
                )
                .order_by(t.field_base.c.customer_key)
                .limit(1)
            )
        ).one()
    return str(row.customer_key), row.value


async def _deals(store: AsyncEngine) -> set[tuple[Any, ...]]:
    async with read_tx(store) as conn:
        rows = await conn.execute(
            sa.select(t.deal.c.job, t.deal.c.deal_id, t.deal.c.payload_hash, t.deal.c.updated_at)
        )
        return {tuple(r) for r in rows}


async def _edit_conflicts(store: AsyncEngine, key: str) -> list[str]:
    async with read_tx(store) as conn:
        rows = await conn.execute(
            sa.select(t.conflict.c.field).where(
                t.conflict.c.kind == "target_edited",
                t.conflict.c.status == "open",
                t.conflict.c.customer_key == key,
            )
        )
        return [str(r.field) for r in rows]


def zendesk_event(kind: str, record_id: str, field: str, previous: Any, current: Any) -> bytes:
    """A ``<kind>.custom_field_changed`` event as Zendesk's webhooks send it (the shape of
    developer.zendesk.com "Webhook event types": type, subject, detail, event)."""
    return json.dumps(
        {
            "type": f"zen:event-type:{kind}.custom_field_changed",
            "account_id": 10973248,
            "id": f"evt-{time.monotonic_ns()}",
            "subject": f"zen:{kind}:{record_id}",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "zendesk_event_version": "2022-06-20",
            "detail": {"id": record_id, "name": "an organization"},
            "event": {
                "current": str(current),
                "previous": str(previous),
                "field": {"id": "360001", "title": field, "type": "decimal"},
            },
        }
    ).encode()


def zendesk_headers(body: bytes) -> dict[str, str]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "X-Zendesk-Webhook-Signature": zendesk_signature(DESK_SECRET, stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }


async def test_an_agent_edit_of_a_synced_field_is_held_within_a_second_of_zendesks_event(
    hooked: Hooked,
) -> None:
    engine = hooked.daemon.engine
    assert engine is not None
    field = "organization_fields.special_discount"
    key, base = await _written(engine.store, field)
    record_id = key.removeprefix("organization:")
    edited = 7 if not same_value(base, 7) else 8
    deals_before = await _deals(engine.store)
    # The agent saves the profile just now: Zendesk's exports leave it out for a minute, so
    # only the event's subject can make the run read it.
    hooked.world.desk.agent_edit(
        "organization", int(record_id), organization_fields={"special_discount": edited}
    )
    body = zendesk_event("organization", record_id, "special_discount", base, edited)
    async with httpx.AsyncClient() as client:
        posted = time.monotonic()
        answer = await client.post(
            f"{hooked.base}/hooks/west/desk", content=body, headers=zendesk_headers(body)
        )
        assert answer.status_code == 202
        async with asyncio.timeout(1.0):
            while field not in await _edit_conflicts(engine.store, key):  # noqa: ASYNC110
                await asyncio.sleep(0.02)  # (the store has no event to wait on)
        held_after = time.monotonic() - posted
    await hooked.quiet(job="west")
    assert held_after < 1.0
    assert [r[0] for r in hooked.runs] == ["west"], "one run of the rung job"
    stored = hooked.world.desk.record("organization", int(record_id))
    assert same_value(stored["organization_fields"]["special_discount"], edited), "kept"
    assert "! " in stored["notes"], "the note flags the held edit"
    assert await _deals(engine.store) == deals_before, "no deal changed"


async def test_a_desk_event_naming_a_record_dealbridge_never_wrote_queues_nothing(
    hooked: Hooked,
) -> None:
    engine = hooked.daemon.engine
    assert engine is not None
    stranger = hooked.world.desk.add_organization("Nobody We Know")
    body = zendesk_event("organization", str(stranger["id"]), "special_discount", None, 3)
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{hooked.base}/hooks/west/desk", content=body, headers=zendesk_headers(body)
        )
    assert answer.status_code == 202
    await hooked.quiet(job="west")
    assert [r[0] for r in hooked.runs] == ["west"]
    assert await _edit_conflicts(engine.store, f"organization:{stranger['id']}") == []
