"""Leads decide conflicts and retry alerts through the console: the effect is shown first,
the decision is the CLI's, it is audited, and the next run applies it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import sqlalchemy as sa

from sync_jobs.config.app import load_config
from sync_jobs.store import tables as t
from sync_jobs.store.db import make_engine, read_tx, write_tx
from tests.console.conftest import ConsoleWorld, token_in
from tests.console.testclient import TestClient


def _conflict_of_kind(client: TestClient, kind: str) -> int:
    found = re.search(r'href="/conflicts/(\d+)"', client.get(f"/conflicts?kind={kind}").text)
    assert found is not None, kind
    return int(found.group(1))


def _status(world: ConsoleWorld, conflict_id: int) -> str:
    async def read() -> str:
        store = make_engine(load_config(world.config_path).state.url)
        try:
            async with read_tx(store) as conn:
                return str(
                    await conn.scalar(
                        sa.select(t.conflict.c.status).where(t.conflict.c.id == conflict_id)
                    )
                )
        finally:
            await store.dispose()

    return asyncio.run(read())


def test_a_lead_sees_the_effect_then_confirms_and_the_next_run_applies_it(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    lead = signed_in("lee")
    conflict_id = _conflict_of_kind(lead, "territory_disagreement")
    confirm = lead.get(f"/conflicts/{conflict_id}/resolve?take=target")
    assert confirm.status_code == 200
    assert "If you confirm, the next run keeps the record&#39;s current value" in confirm.text
    assert _status(console_world, conflict_id) == "open"  # looking decides nothing
    version = re.search(r'name="version" value="(\d+)"', confirm.text)
    assert version is not None
    done = lead.post(
        f"/conflicts/{conflict_id}/resolve",
        data={"csrf": token_in(confirm.text), "take": "target", "version": version.group(1)},
    )
    assert done.status_code == 200
    assert "Decision recorded" in done.text
    assert _status(console_world, conflict_id) == "resolved"
    assert "not applied yet" in done.text
    assert "conflict_resolved" in lead.get("/changes").text
    console_world.run_all()
    assert '<strong class="ok">applied</strong>' in lead.get(f"/conflicts/{conflict_id}").text


def test_a_choice_the_conflict_does_not_take_is_explained_before_anything_is_recorded(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    lead = signed_in("lee")
    conflict_id = _conflict_of_kind(lead, "territory_disagreement")
    answer = lead.get(f"/conflicts/{conflict_id}/resolve?take=territory&value=Mars")
    assert answer.status_code == 409
    assert "is not part of this conflict" in answer.text
    assert "Confirm</button>" not in answer.text
    assert _status(console_world, conflict_id) == "open"


def test_a_decision_on_a_conflict_that_changed_since_is_refused(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    lead = signed_in("lee")
    conflict_id = _conflict_of_kind(lead, "territory_disagreement")
    confirm = lead.get(f"/conflicts/{conflict_id}/resolve?take=target")
    answer = lead.post(
        f"/conflicts/{conflict_id}/resolve",
        data={"csrf": token_in(confirm.text), "take": "target", "version": "99"},
    )
    assert answer.status_code == 409
    assert "changed since you looked" in answer.text


def test_a_lead_retries_a_failed_alert(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    async def park_one() -> int:
        store = make_engine(load_config(console_world.config_path).state.url)
        try:
            async with write_tx(store) as conn:
                from sync_jobs.run.context import utcnow

                row = await conn.execute(
                    sa.insert(t.outbox)
                    .values(
                        alert_key="k",
                        thread="k",
                        channel="ops",
                        payload={"title": "a parked alert"},
                        status="dead",
                        attempts=8,
                        next_attempt_at=utcnow(),
                        created_at=utcnow(),
                        last_error="refused by the channel",
                    )
                    .returning(t.outbox.c.id)
                )
                return int(row.scalar_one())
        finally:
            await store.dispose()

    outbox_id = asyncio.run(park_one())
    lead = signed_in("lee")
    failed = lead.get("/alerts?show=failed")
    assert "a parked alert" in failed.text
    answer = lead.post(f"/alerts/{outbox_id}/retry", data={"csrf": token_in(failed.text)})
    assert "Queued again" in answer.text
    assert "a parked alert" in lead.get("/alerts?show=pending").text
    assert f"alert:{outbox_id}" in lead.get("/changes").text


def test_an_admin_adds_changes_and_removes_people(signed_in: Callable[[str], TestClient]) -> None:
    admin = signed_in("ada")
    token = token_in(admin.get("/users").text)
    short = admin.post(
        "/users", data={"csrf": token, "name": "sam", "role": "lead", "password": "x"}
    )
    assert short.status_code == 403
    added = admin.post(
        "/users",
        data={"csrf": token, "name": "sam", "role": "lead", "password": "a long passphrase"},
    )
    assert "<td>sam</td><td>lead</td>" in added.text
    admin.post("/users", data={"csrf": token, "name": "sam", "role": "viewer"})
    assert "<td>sam</td><td>viewer</td>" in admin.get("/users").text
    admin.post("/users/sam/remove", data={"csrf": token})
    assert "<td>sam</td>" not in admin.get("/users").text
    changes = admin.get("/changes").text
    assert "user_saved" in changes
    assert "user_removed" in changes


def test_the_last_admin_cannot_be_removed_or_demoted(
    signed_in: Callable[[str], TestClient],
) -> None:
    admin = signed_in("ada")
    token = token_in(admin.get("/users").text)
    assert admin.post("/users/ada/remove", data={"csrf": token}).status_code == 403
    demote = admin.post("/users", data={"csrf": token, "name": "ada", "role": "lead"})
    assert demote.status_code == 403
