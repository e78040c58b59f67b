"""Alerts as desk tickets end to end, for every registered target that takes them: a conflict
alert routed to a ``ticket`` channel opens a ticket on that desk's simulator through the
target connector, its follow-up lands on the same ticket, and the same alert raised again
opens no second ticket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from connectors.base import DeskTicket, TicketDesk
from connectors.errors import ConfigError
from connectors.registry import get_spec, known_kinds, load_object
from sandbox.harness import ContractHarness
from sandbox.world import REPO_ROOT, build_world, credentials, world_doc
from sync_jobs.alerts.channels import build_channel
from sync_jobs.alerts.outbox import Dispatcher, notify
from sync_jobs.app.connector_list import connector_class
from sync_jobs.config.app import parse_config
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import Engine, utcnow
from sync_jobs.run.runner import open_engine, run_job
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx, write_tx

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
JOBS = ("west", "emea", "apac")
DESK = "alert_desk"
KIND = "territory_disagreement"


def _ticket_desks() -> list[str]:
    """Registered targets with a simulator harness whose connector class implements
    TicketDesk: any desk that gains the capability is checked here without a new line."""
    found = []
    for kind in known_kinds():
        spec = get_spec(kind)
        if spec.role != "target" or spec.contract_harness is None:
            continue
        built = connector_class(spec)
        if built is not None and issubclass(built, TicketDesk):
            found.append(kind)
    return found


def _past_any_backoff() -> datetime:
    """The dispatcher's clock: late enough that nothing queued is still backing off."""
    return utcnow() + timedelta(hours=2)


@dataclass
class Box:
    engine: Engine
    connections: Connections
    harness: ContractHarness

    async def run(self) -> None:
        for job in JOBS:
            await run_job(self.engine, self.connections, job)

    async def deliver(self) -> None:
        alerts = self.engine.config.alerts
        channels = {
            name: build_channel(name, config, connectors=self.connections.target)
            for name, config in alerts.channels.items()
        }
        await Dispatcher(self.engine.store, alerts, channels, _past_any_backoff).deliver_due()

    async def rows(self) -> list[Any]:
        async with read_tx(self.engine.store) as conn:
            return list(await conn.execute(sa.select(t.outbox).order_by(t.outbox.c.id)))

    def desk_requests(self) -> int:
        return self.harness.controls.count()


@pytest.fixture(params=_ticket_desks())
async def box(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Box]:
    kind = request.param
    reference = get_spec(kind).contract_harness
    assert reference is not None
    harness: ContractHarness = load_object(reference)()
    for name, value in (credentials("freshdesk") | harness.env).items():
        monkeypatch.setenv(name, value)
    world = build_world(tmp_path, "freshdesk", fast=True)
    doc = world_doc(tmp_path, "freshdesk", fast=True)
    doc["connectors"][DESK] = harness.config | harness.extra.get("ticket_config", {})
    doc["alerts"] = {
        "channels": {
            "desk": {
                "type": "ticket",
                "connector": DESK,
                "tags": ["deal desk"],
                "requester_email": "service-leads@contact-center.example",
            }
        },
        "routes": [{"kinds": [KIND], "channels": ["desk"]}],
    }
    config = parse_config(doc, str(REPO_ROOT / "config.yaml"), REPO_ROOT)
    engine = await open_engine(config)
    assert harness.app is not None
    transports = world.transports() | {DESK: httpx.ASGITransport(app=harness.app)}
    connections = Connections(config.connectors, transports)
    yield Box(engine, connections, harness)
    await connections.aclose()
    await engine.store.dispose()


async def test_a_conflict_alert_opens_one_ticket_and_its_follow_up_is_noted_on_it(
    box: Box,
) -> None:
    desk = box.connections.target(DESK)
    assert isinstance(desk, TicketDesk)
    await box.run()
    await box.deliver()
    rows = await box.rows()
    assert rows, f"the demo world raised {KIND} conflicts"
    assert {(r.channel, r.status) for r in rows} == {("desk", "sent")}, [r.last_error for r in rows]
    first = rows[0]
    assert first.reference, "the desk's ticket id is kept for the thread's next messages"

    # The same conflict changes: its alert is a follow-up on the same thread, noted on the
    # ticket the first one opened (the desk answers the same id: the ticket is there, open).
    conflict_id = int(first.thread.split(":")[1])
    async with write_tx(box.engine.store) as conn:
        await conn.execute(
            sa.update(t.conflict)
            .where(t.conflict.c.id == conflict_id)
            .values(version=t.conflict.c.version + 1)
        )
        queued = await notify(
            conn, box.engine.config.alerts, utcnow(), changed=[(conflict_id, "updated")]
        )
    assert queued == 1
    await box.deliver()
    follow_up = (await box.rows())[-1]
    assert (follow_up.status, follow_up.reference) == ("sent", first.reference)

    probe = DeskTicket(key="probe", subject="probe", body="probe", requester_email="o@x.example")
    assert await desk.add_internal_note(first.reference, probe) == first.reference


async def test_the_same_alert_raised_again_opens_no_second_ticket(box: Box) -> None:
    await box.run()
    await box.deliver()
    sent = await box.rows()
    requests = box.desk_requests()

    await box.run()  # the same conflicts, seen again: the same alerts
    first = sent[0]
    async with write_tx(box.engine.store) as conn:
        again = await notify(
            conn,
            box.engine.config.alerts,
            utcnow(),
            changed=[(int(first.thread.split(":")[1]), "opened")],
        )
    assert again == 1, "queued once more as far as notify knows..."
    await box.deliver()

    assert len(await box.rows()) == len(sent), "...but the outbox holds each alert once"
    assert box.desk_requests() == requests, "and the desk heard nothing more"


def test_every_registered_desk_takes_alert_tickets() -> None:
    targets = {
        kind
        for kind in known_kinds()
        if get_spec(kind).role == "target" and get_spec(kind).contract_harness is not None
    }
    assert set(_ticket_desks()) == targets


@pytest.mark.parametrize("named", ["salesforce_west", "nowhere"])
def test_a_ticket_channel_must_name_a_target_connector(
    named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in credentials("freshdesk").items():
        monkeypatch.setenv(name, value)
    doc = world_doc(tmp_path, "freshdesk", fast=True)
    doc["alerts"] = {"channels": {"desk": {"type": "ticket", "connector": named}}}

    with pytest.raises(ConfigError) as caught:
        parse_config(doc, str(REPO_ROOT / "config.yaml"), REPO_ROOT)

    (problem,) = caught.value.problems
    assert problem.key == "alerts.channels.desk.connector"
    assert f"no target connector named {named!r}" in problem.message
    assert problem.hint == "use one of: freshdesk"
