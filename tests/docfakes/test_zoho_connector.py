"""The real Zoho CRM connector against the Zoho doc-fake (written from FACTS.md alone, independent
of the connector's own simulator). Only the doc-fake's public seeding API is used; a field is
renamed by editing its ``modules`` the way an admin's rename would change the metadata.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import Cursor, DealQuery, SourceDeal
from connectors.errors import AuthError, BudgetExhausted, PermanentError, RateLimited
from connectors.registry import get_spec
from connectors.sales.zoho import ZohoSource
from connectors.settings import ConnectorOptions
from tests.docfakes.crm_common import ManualClock
from tests.docfakes.zoho import ZohoFake

pytestmark = pytest.mark.anyio

CLIENT_ID = "1000.DOCFAKECLIENT"
CLIENT_SECRET = "docfake-client-secret-3e2d1c"
SECRET_ENV = "ZOHO_DOCFAKE_CLIENT_SECRET"
REFRESH_ENV = "ZOHO_DOCFAKE_REFRESH_TOKEN"
QUERY = DealQuery(fields=("Deal_Name", "Payment_Terms", "Account_Name.Website"))


def make_fake(**options: Any) -> tuple[ZohoFake, str]:
    fake = ZohoFake(ManualClock(), **options)
    fake.add_field("Payment_Terms", "Payment Terms", "picklist", picklist=["Net 30", "Net 60"])
    fake.add_field("Special_Discount", "Special Discount", "double")
    return fake, fake.add_client(CLIENT_ID, CLIENT_SECRET)


def connect(
    fake: ZohoFake, refresh_token: str, monkeypatch: pytest.MonkeyPatch, **config: Any
) -> ZohoSource:
    """The connector as the registry builds it, talking to the fake, sleeping on its clock."""
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    monkeypatch.setenv(REFRESH_ENV, refresh_token)
    spec = get_spec("zoho")
    raw = {
        "kind": "zoho",
        "data_centre": "eu",
        "client_id": CLIENT_ID,
        "client_secret": f"${{{SECRET_ENV}}}",
        "refresh_token": f"${{{REFRESH_ENV}}}",
        **config,
    }

    async def sleep(seconds: float) -> None:
        fake.clock.advance(seconds)
        fake.in_flight.release()
        await asyncio.sleep(0)

    options = ConnectorOptions(transport=httpx.ASGITransport(app=fake.app), sleep=sleep)
    source: ZohoSource = spec.factory("latam", spec.config_model.model_validate(raw), options)
    return source


async def read(
    src: ZohoSource, since: Cursor | None = None, query: DealQuery = QUERY
) -> tuple[list[SourceDeal], Cursor | None]:
    deals: list[SourceDeal] = []
    last = since
    async for page in src.changed_deals(query, since):
        deals += page.deals
        last = page.checkpoint
    return deals, last


async def test_the_catalog_shows_the_fakes_custom_fields_and_account_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, token = make_fake()
    catalog = {f.path: f for f in await connect(fake, token, monkeypatch).field_catalog()}
    assert catalog["Payment_Terms"].choices == ("Net 30", "Net 60")
    assert catalog["Special_Discount"].custom
    assert {"Account_Name.Website", "Account_Name.name", "Stage"} <= set(catalog)


@pytest.mark.parametrize("read_via", ["coql", "list"])
async def test_a_backfill_reads_every_deal_with_its_account(
    read_via: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, token = make_fake()
    account = fake.add_account("Zylker", "https://zylker.example")
    ids = {fake.add_deal(f"deal {n}", account, Payment_Terms="Net 30") for n in range(7)}
    src = connect(fake, token, monkeypatch, read_via=read_via, page_size=3)
    deals, _ = await read(src)
    assert {d.id for d in deals} == ids
    first = deals[0]
    assert first.payload["Account_Name"]["Website"] == "https://zylker.example"
    assert first.payload["Account_Name"]["name"] == "Zylker"
    assert first.modified_at == datetime.fromisoformat("2026-03-02T09:00:00+00:00")
    assert src.problems() == []


async def test_deletions_come_through_on_the_next_run(monkeypatch: pytest.MonkeyPatch) -> None:
    fake, token = make_fake()
    doomed = fake.add_deal("short lived")
    src = connect(fake, token, monkeypatch)
    _, cursor = await read(src)
    fake.clock.advance(60)
    fake.delete_deal(doomed)
    deals, _ = await read(src, cursor)
    assert [(d.id, d.deleted) for d in deals if d.deleted] == [(doomed, True)]


async def test_a_refresh_token_from_another_data_centre_names_the_right_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, token = make_fake(dc="jp")
    with pytest.raises(AuthError, match="set data_centre: jp"):
        await read(connect(fake, token, monkeypatch))


async def test_a_renamed_field_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    fake, token = make_fake()
    fake.add_deal("one", Payment_Terms="Net 30")
    field = next(f for f in fake.modules["Deals"].fields if f.api_name == "Payment_Terms")
    field.api_name = "Payment_Term"
    with pytest.raises(PermanentError, match="did you mean 'Payment_Term'"):
        await read(connect(fake, token, monkeypatch))


@pytest.mark.parametrize("read_via", ["coql", "list"])
async def test_bad_deals_are_reported_and_the_others_read(
    read_via: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, token = make_fake()
    kept = fake.add_account("Kept", "https://kept.example")
    gone = fake.add_account("Gone", "https://gone.example")
    fine = fake.add_deal("fine", kept, Payment_Terms="Net 60")
    orphan = fake.add_deal("orphan", gone, Payment_Terms="Net 30")
    stray = fake.add_deal("stray", kept, Payment_Terms="Net 90")
    fake.delete_account(gone)
    src = connect(fake, token, monkeypatch, read_via=read_via)
    deals, _ = await read(src)
    assert {d.id for d in deals} == {fine, orphan, stray}
    problems = src.problems()
    assert len(problems) == 2
    assert any(orphan in p and gone in p for p in problems)
    assert any(stray in p and "'Net 90'" in p for p in problems)


async def test_spent_credits_stop_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    fake, token = make_fake(credits_per_day=12)
    fake.add_deal("one")
    src = connect(fake, token, monkeypatch, credit_reserve=0)

    async def run_daily() -> None:
        cursor = None
        for _ in range(4):  # 12 credits: a few runs spend them (one header seen past half)
            _, cursor = await read(src, cursor)

    with pytest.raises(BudgetExhausted, match="credits are used up") as caught:
        await run_daily()
    assert not caught.value.exact


async def test_a_429_with_no_credits_header_is_retried_then_explained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, token = make_fake(credits_per_day=10_000)
    src = connect(fake, token, monkeypatch)
    await src.api.tokens.current()
    fake.credits_per_day = 0  # spent elsewhere, before this process saw any credit header
    with pytest.raises(RateLimited) as caught:
        await read(src)
    assert src.api.http.stats.throttled >= 2, "retried as a concurrency limit first"
    assert "credits return 24 hours after they were spent" in str(caught.value)


async def test_a_concurrency_refusal_is_waited_out(monkeypatch: pytest.MonkeyPatch) -> None:
    fake, token = make_fake(concurrency=1)
    first, second = connect(fake, token, monkeypatch), connect(fake, token, monkeypatch)
    await first.api.tokens.current()
    await second.api.tokens.current()
    fake.in_flight.hold()
    held = asyncio.create_task(first.check())
    await fake.in_flight.until(1)
    health = await second.check()  # refused while the other call is in flight, then retried
    assert (await held).ok
    assert health.ok
    assert second.api.http.stats.throttled == 1


# --- Hypothesis: the union of incremental reads ends at every deal's latest version -----------

Step = tuple[str, int, int]
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["create", "update", "delete", "run", "tick"]),
        st.integers(min_value=0, max_value=1_000),
        st.integers(min_value=0, max_value=2),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=25, deadline=None)
@given(
    steps=STEPS,
    page_size=st.integers(min_value=1, max_value=4),
    via=st.sampled_from(["coql", "list"]),
)
def test_incremental_reads_never_lose_a_deals_latest_version(
    steps: list[Step], page_size: int, via: str
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        asyncio.run(_replay(steps, page_size, via, monkeypatch))


async def _replay(steps: list[Step], page_size: int, via: str, mp: pytest.MonkeyPatch) -> None:
    fake, token = make_fake()
    src = connect(fake, token, mp, read_via=via, page_size=page_size, overlap_seconds=1)
    seen: dict[str, tuple[datetime, bool]] = {}
    cursor: Cursor | None = None
    deals = fake.modules["Deals"].records
    actions: dict[str, Callable[[list[str], int], None]] = {
        "create": lambda _live, pick: _ignore(fake.add_deal(f"deal {pick}")),
        "update": lambda live, pick: fake.update_deal(live[pick % len(live)], Deal_Name=f"{pick}"),
        "delete": lambda live, pick: fake.delete_deal(live[pick % len(live)]),
    }
    for op, pick, ticks in [*steps, ("run", 0, 0)]:
        live = list(deals)
        if op == "run":
            found, cursor = await read(src, cursor, DealQuery(fields=("Deal_Name",)))
            for deal in found:
                _remember(deal, seen)
        elif op == "tick":
            fake.clock.advance(ticks)
        elif op == "create" or live:
            actions[op](live, pick)
        fake.clock.advance(ticks % 2)
    for deal_id, record in deals.items():
        assert seen.get(deal_id) == (record["Modified_Time"], False), f"{deal_id} lost"
    await src.aclose()


def _ignore(_value: object) -> None:
    """Seeding helpers return ids the replay does not need."""


def _remember(deal: SourceDeal, seen: dict[str, tuple[datetime, bool]]) -> None:
    known = seen.get(deal.id)
    if deal.deleted or known is None or known[1] or deal.modified_at >= known[0]:
        seen[deal.id] = (deal.modified_at, deal.deleted)
