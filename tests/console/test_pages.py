"""Each page, read by a viewer, over a world that has run once."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.console.conftest import ConsoleWorld, make_console_world, sign_in, token_in
from tests.console.testclient import TestClient
from tests.stores import fresh_postgres


def test_the_overview_shows_each_job_with_its_last_run_and_chart(
    signed_in: Callable[[str], TestClient],
) -> None:
    page = signed_in("vic").get("/")
    assert page.status_code == 200
    for job in ("west", "emea", "apac"):
        assert f"<td>{job}</td>" in page.text
    assert page.text.count('<svg class="chart"') == 3
    assert "Alert outbox:" in page.text
    run_link = re.search(r'href="/runs/([0-9a-f]+)"', page.text)
    assert run_link is not None
    run = signed_in("vic").get(f"/runs/{run_link.group(1)}")
    assert "customers_written" in run.text


def test_the_conflict_queue_filters_by_kind_territory_and_status(
    signed_in: Callable[[str], TestClient],
) -> None:
    client = signed_in("vic")
    every = client.get("/conflicts?status=open").text
    for kind in ("unmatched", "out_of_policy", "ambiguous", "territory_disagreement"):
        assert f"<td>{kind}</td>" in every
    only = client.get("/conflicts?status=open&kind=unmatched").text
    assert "<td>unmatched</td>" in only
    assert "<td>ambiguous</td>" not in only
    assert "No conflicts match." in client.get("/conflicts?status=applied").text
    emea = client.get("/conflicts?status=open&territory=EMEA").text
    west = client.get("/conflicts?status=open&territory=AMER-West").text
    assert emea != west


def test_a_conflict_shows_its_values_deals_and_owners_and_the_choices_of_the_cli(
    signed_in: Callable[[str], TestClient],
) -> None:
    client = signed_in("lee")
    listing = client.get("/conflicts?kind=territory_disagreement").text
    conflict_id = re.search(r'href="/conflicts/(\d+)"', listing)
    assert conflict_id is not None
    page = client.get(f"/conflicts/{conflict_id.group(1)}").text
    assert "says</th>" in page
    assert "Owners" in page
    for take in ("target", "value", "territory"):
        assert f"Take {take}" in page


def test_a_viewer_sees_no_decision_buttons(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in("vic")
    page = client.get("/conflicts/1").text
    assert "Take " not in page
    assert "Leads and admins decide conflicts" in page


def test_the_customer_search_finds_by_name_and_by_deal_id(
    signed_in: Callable[[str], TestClient],
) -> None:
    client = signed_in("vic")
    by_name = client.get("/customers?q=acme").text
    assert "Acme Corporation" in by_name
    link = re.search(r'href="(/customers/zendesk/organization:\d+)"', by_name)
    assert link is not None
    page = client.get(link.group(1)).text
    assert "Fields dealbridge owns" in page
    assert "open in the CRM" in page
    assert "Audit trail" in page
    deal_id = re.search(r"<td>west/([^<]+)</td>", page)
    assert deal_id is not None
    by_deal = client.get(f"/customers?q={deal_id.group(1)}").text
    assert link.group(1) in by_deal


def test_the_customer_note_is_read_from_the_desk_as_the_agent_sees_it(
    signed_in: Callable[[str], TestClient],
) -> None:
    client = signed_in("vic")
    found = client.get("/customers?q=acme").text
    link = re.search(r'href="(/customers/zendesk/organization:\d+)"', found)
    assert link is not None
    part = client.get(link.group(1) + "?desk=1").text
    assert '<pre class="note">' in part
    assert "Special terms:" in part


def test_the_alert_page_lists_the_outbox_by_status(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in("vic")
    for show in ("", "pending", "failed", "sent"):
        page = client.get(f"/alerts?show={show}")
        assert page.status_code == 200
        assert "Pending (" in page.text


def test_the_change_log_lists_sign_ins(signed_in: Callable[[str], TestClient]) -> None:
    page = signed_in("vic").get("/changes").text
    assert "signed_in" in page
    assert "user:vic" in page


def test_an_unknown_conflict_or_job_is_a_404(signed_in: Callable[[str], TestClient]) -> None:
    client = signed_in("ada")
    assert client.get("/conflicts/99999").status_code == 404
    assert client.get("/mappings/nope").status_code == 404


def test_config_yaml_is_reread_when_it_changes(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    client = signed_in("vic")
    assert "<td>apac</td>" in client.get("/").text


@pytest.mark.postgres
def test_the_console_works_on_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with fresh_postgres() as url:
        world = make_console_world(tmp_path, monkeypatch, state_url=url)
        with world.client(base_url="https://testserver") as client:
            sign_in(client, "lee")
            assert "<td>west</td>" in client.get("/").text
            listing = client.get("/conflicts?kind=territory_disagreement&territory=EMEA").text
            found = re.search(r'href="/conflicts/(\d+)"', listing)
            assert found is not None
            confirm = client.get(f"/conflicts/{found.group(1)}/resolve?take=target")
            done = client.post(
                f"/conflicts/{found.group(1)}/resolve",
                data={"csrf": token_in(confirm.text), "take": "target"},
            )
            assert "Decision recorded" in done.text
            assert "Acme Corporation" in client.get("/customers?q=acme").text
            assert "conflict_resolved" in client.get("/changes").text
