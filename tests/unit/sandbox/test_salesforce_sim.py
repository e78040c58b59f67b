"""The Salesforce simulator answers like Salesforce, driven by the real connector in process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.base import Cursor, DealPage, DealQuery
from connectors.errors import AuthError, BudgetExhausted
from connectors.sales.salesforce import SalesforceConfig, SalesforceSource
from connectors.sales.salesforce.simulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_ENV,
    DEMO_REFRESH_TOKEN,
    DEMO_USERNAME,
    SANDBOX_URL,
    SalesforceSimulator,
    connector_config,
    contract_harness,
)
from connectors.settings import ConnectorOptions
from sandbox import demo_data
from sandbox.controls import Fault
from tests.fixtures.salesforce.support import FakeSleep

pytestmark = pytest.mark.anyio

DEMO_PATHS = (
    "Name",
    "StageName",
    "Amount",
    "CurrencyIsoCode",
    "CloseDate",
    "Special_Discount__c",
    "Payment_Terms__c",
    "Free_Services__c",
    "Terms_Valid_Until__c",
    "Account.Name",
    "Account.Website",
    "Account.Customer_Number__c",
    "Owner.Name",
    "Owner.Email",
    "OpportunityContactRoles.Contact.Email",
)
SPECIAL = DealQuery(fields=DEMO_PATHS, select="Has_Special_Terms__c = true")
V = "/services/data/v61.0"


@pytest.fixture(autouse=True)
def _demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)


def connect(sim: SalesforceSimulator, **overrides: Any) -> SalesforceSource:
    config = SalesforceConfig.model_validate(connector_config(**overrides))
    options = ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=FakeSleep())
    return SalesforceSource("west", config, options)


async def read(
    sim: SalesforceSimulator, query: DealQuery = SPECIAL, since: Cursor | None = None
) -> list[DealPage]:
    source = connect(sim)
    try:
        return [page async for page in source.changed_deals(query, since)]
    finally:
        await source.aclose()


def ids(pages: list[DealPage]) -> list[str]:
    return [d.id for p in pages for d in p.deals]


class Raw:
    """Direct HTTP to the simulator, for answers the connector would hide."""

    def __init__(self, sim: SalesforceSimulator) -> None:
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sim.app), base_url=SANDBOX_URL
        )
        self.token = ""

    async def login(self) -> dict[str, Any]:
        form = {
            "grant_type": "refresh_token",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
            "refresh_token": DEMO_REFRESH_TOKEN,
        }
        body: dict[str, Any] = (await self.client.post("/services/oauth2/token", data=form)).json()
        self.token = body.get("access_token", "")
        return body

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        return await self.client.get(path, headers=headers, **kw)

    async def soql(self, text: str, **kw: Any) -> httpx.Response:
        return await self.get(f"{V}/query", params={"q": text}, **kw)

    async def aclose(self) -> None:
        await self.client.aclose()


@pytest.fixture
async def raw() -> Any:
    sim = SalesforceSimulator(seed=True)
    client = Raw(sim)
    await client.login()
    yield client, sim
    await client.aclose()


# -- the demo world ----------------------------------------------------------------------------


async def test_demo_seed_holds_every_west_deal_with_account_owner_and_contacts() -> None:
    pages = await read(SalesforceSimulator(seed=True))
    deals = {d.id: d for p in pages for d in p.deals}
    assert set(deals) == {d.id for d in demo_data.deals_for("salesforce")}
    acme = deals["0065g00000WEST01"].payload
    assert acme["Account"] == {
        "Name": "Acme Corporation",
        "Website": "https://www.acme.example",
        "Customer_Number__c": "CUST-1001",
    }
    assert acme["Owner"] == {"Name": "Dana Ortiz", "Email": "dana.ortiz@seller.example"}
    assert acme["OpportunityContactRoles"] == [{"Contact": {"Email": "ops@acme.example"}}]
    assert acme["Free_Services__c"] == "Onsite training;Priority support"
    assert acme["Payment_Terms__c"] == "Net 60"


async def test_demo_deal_without_a_known_customer_uses_its_own_account() -> None:
    pages = await read(SalesforceSimulator(seed=True))
    soylent = next(d for p in pages for d in p.deals if d.id == "0065g00000WEST05").payload
    assert soylent["Account"]["Website"] == "https://www.soylent.example"
    assert soylent["Account"]["Customer_Number__c"] is None
    assert soylent["OpportunityContactRoles"] == []  # no contact roles: Salesforce sends null


async def test_demo_deals_come_oldest_first_with_salesforce_datetimes() -> None:
    pages = await read(SalesforceSimulator(seed=True))
    stamps = [d.modified_at for p in pages for d in p.deals]
    assert stamps == sorted(stamps)
    raw_stamp = pages[0].deals[0].payload["SystemModstamp"]
    assert raw_stamp.endswith(".000+0000")


# -- paging ------------------------------------------------------------------------------------


async def test_small_batches_page_through_query_more_locators() -> None:
    sim = SalesforceSimulator(seed=True, batch_cap=2)
    pages = await read(sim)
    assert [len(p.deals) for p in pages] == [2, 2, 2]
    assert sim.controls.count("GET", "/queryAll") == 1
    assert sim.controls.count("GET", f"{V}/query/01g") == 2


async def test_batch_size_header_is_clamped_to_what_salesforce_allows(raw: Any) -> None:
    client, sim = raw
    sim.seed_bulk(450)
    text = "SELECT Id FROM Opportunity ORDER BY SystemModstamp ASC, Id ASC"
    small = (await client.soql(text, headers={"Sforce-Query-Options": "batchSize=50"})).json()
    assert len(small["records"]) == 200
    assert small["nextRecordsUrl"].endswith("-200")
    default = (await client.soql(text)).json()
    assert (len(default["records"]), default["done"]) == (456, True)
    assert "nextRecordsUrl" not in default


async def test_an_unknown_query_locator_is_refused(raw: Any) -> None:
    client, _ = raw
    answer = await client.get(f"{V}/query/01gDxNOPE-200")
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


# -- incremental reads -------------------------------------------------------------------------


async def test_equal_timestamps_are_never_skipped_across_pages_and_runs() -> None:
    sim = SalesforceSimulator(batch_cap=3)
    tied = sim.seed_equal_timestamps(7)
    pages = await read(sim, DealQuery(fields=("Name",)))
    assert ids(pages) == sorted(tied)
    middle = pages[1].checkpoint  # stopped in the middle of the tie
    again = await read(sim, DealQuery(fields=("Name",)), middle)
    assert set(tied) <= set(ids(again))


async def test_incremental_read_sees_updates_and_recycle_bin_deletions() -> None:
    sim = SalesforceSimulator(seed=True)
    first = await read(sim)
    later = datetime.now(UTC) + timedelta(minutes=1)
    sim.update_deal("0065g00000WEST02", modstamp=later, Special_Discount__c=11.0)
    sim.delete_deal("0065g00000WEST03", modstamp=later)
    pages = await read(sim, since=first[-1].checkpoint)
    changed = {d.id: d for p in pages for d in p.deals}
    assert changed["0065g00000WEST02"].payload["Special_Discount__c"] == 11.0
    assert changed["0065g00000WEST03"].deleted
    assert json.loads(pages[-1].checkpoint.value)["id"] == max(
        "0065g00000WEST02", "0065g00000WEST03"
    )


class Clock:
    """Our clock, moved by hand (when the next overlap re-read is due)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def read_at(
    sim: SalesforceSimulator, clock: Clock, since: Cursor | None
) -> tuple[list[str], Cursor | None]:
    """One incremental read at ``clock``: the deal ids read and the last checkpoint."""
    source = connect(sim)
    source.clock = clock
    try:
        pages = [page async for page in source.changed_deals(DealQuery(fields=("Name",)), since)]
    finally:
        await source.aclose()
    return ids(pages), (pages[-1].checkpoint if pages else since)


async def test_reads_between_overlap_sweeps_read_only_new_changes_and_the_cursors_ties() -> None:
    sim = SalesforceSimulator(seed=True)
    clock = Clock()
    _, cursor = await read_at(sim, clock, None)  # the first, full read
    base = datetime.now(UTC).replace(microsecond=0)
    read_per_run = []
    for n in range(6):  # two new deals, then a doorbell run, every two seconds
        clock.now += 2
        sim.add_deal(f"Early {n}", modstamp=base + timedelta(seconds=2 * n))
        sim.add_deal(f"Late {n}", modstamp=base + timedelta(seconds=2 * n + 1))
        read, cursor = await read_at(sim, clock, cursor)
        read_per_run.append(len(read))
    # The first incremental read sweeps the overlap (five minutes before the cursor); each
    # later one reads the two new deals and the one at the cursor's own timestamp, not every
    # deal of the last five minutes again.
    assert read_per_run[1:] == [3, 3, 3, 3, 3]


async def test_a_deal_that_became_visible_late_behind_the_cursor_is_read_by_the_next_sweep() -> (
    None
):
    sim = SalesforceSimulator(seed=True)
    clock = Clock()
    _, cursor = await read_at(sim, clock, None)
    now = datetime.now(UTC).replace(microsecond=0)
    sim.update_deal("0065g00000WEST02", modstamp=now)
    clock.now += 1
    _, cursor = await read_at(sim, clock, cursor)  # sweeps; the cursor is at ``now``
    sim.update_deal("0065g00000WEST04", modstamp=now + timedelta(seconds=30))
    clock.now += 30
    _, cursor = await read_at(sim, clock, cursor)  # the cursor moves to now + 30 s
    # A long transaction commits a save stamped before the cursor, after the read passed it.
    sim.update_deal("0065g00000WEST03", modstamp=now + timedelta(seconds=10), Amount=7)
    clock.now += 10
    read, cursor = await read_at(sim, clock, cursor)
    assert "0065g00000WEST03" not in read, "between sweeps, reads start at the cursor"
    clock.now += 300  # overlap_seconds on our clock since the last sweep
    read, _ = await read_at(sim, clock, cursor)
    assert "0065g00000WEST03" in read, "the sweep reaches back behind the earlier cursor"


async def test_a_deal_leaving_the_select_condition_comes_back_as_a_deletion() -> None:
    sim = SalesforceSimulator(seed=True)
    first = await read(sim)
    sim.update_deal("0065g00000WEST04", Has_Special_Terms__c=False)
    pages = await read(sim, since=first[-1].checkpoint)
    gone = [d for p in pages for d in p.deals if d.id == "0065g00000WEST04"]
    assert [d.deleted for d in gone] == [True]


async def test_a_new_deal_with_contacts_arrives_with_its_contact_roles() -> None:
    sim = SalesforceSimulator(seed=True)
    first = await read(sim)
    account = sim.add_account("Hooli", website="https://hooli.example")
    new = sim.add_deal(
        "Hooli add-on",
        account_id=account,
        contact_emails=["gavin@hooli.example", "jared@hooli.example"],
        Special_Discount__c=7.5,
    )
    pages = await read(sim, since=first[-1].checkpoint)
    payload = next(d for p in pages for d in p.deals if d.id == new).payload
    emails = [r["Contact"]["Email"] for r in payload["OpportunityContactRoles"]]
    assert emails == ["gavin@hooli.example", "jared@hooli.example"]
    assert payload["Owner"] is None


# -- SOQL as Salesforce evaluates it -----------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("StageName = 'closed won'", 5),  # text comparison ignores case
        ("StageName != 'Closed Won'", 1),
        ("StageName IN ('Negotiation', 'Prospecting')", 1),
        ("StageName NOT IN ('Negotiation')", 5),
        ("Name LIKE 'acme%'", 1),
        ("Name LIKE '%e_pansion'", 1),
        ("Free_Services__c INCLUDES ('Onsite training;Priority support', 'Free migration')", 2),
        ("Free_Services__c EXCLUDES ('Onsite training')", 5),
        ("SLA_Promise__c = null", 5),
        ("SLA_Promise__c != 'x'", 6),  # != includes nulls in SOQL
        ("Special_Discount__c >= 15 AND Special_Discount__c < 25", 2),
        ("NOT (Special_Discount__c > 10)", 2),
        ("(Amount > 50000 OR Amount < 6000) AND Account.Customer_Number__c != null", 1),
        ("Terms_Valid_Until__c < TODAY", 1),
        ("Terms_Valid_Until__c = NEXT_N_DAYS:100", 3),
        ("SystemModstamp > 2000-01-01T00:00:00Z", 6),
        ("SystemModstamp = LAST_N_DAYS:30", 6),
        ("Owner.Email = 'MARCO.RUIZ@seller.example'", 3),
        ("Has_Special_Terms__c = true", 6),
    ],
)
async def test_where_clauses_filter_like_salesforce(raw: Any, where: str, expected: int) -> None:
    client, _ = raw
    answer = await client.soql(f"SELECT Id FROM Opportunity WHERE {where}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["totalSize"] == expected


async def test_order_by_limit_and_offset(raw: Any) -> None:
    client, _ = raw
    text = "SELECT Id, Amount FROM Opportunity ORDER BY Amount DESC NULLS LAST LIMIT 2 OFFSET 1"
    records = (await client.soql(text)).json()["records"]
    assert [r["Amount"] for r in records] == [75000.0, 48000.0]


async def test_query_excludes_recycle_bin_rows_but_query_all_includes_them(raw: Any) -> None:
    client, sim = raw
    sim.delete_deal("0065g00000WEST01")
    text = "SELECT Id, IsDeleted FROM Opportunity"
    live = (await client.soql(text)).json()
    everything = (await client.get(f"{V}/queryAll", params={"q": text})).json()
    assert (live["totalSize"], everything["totalSize"]) == (5, 6)
    assert [r["IsDeleted"] for r in everything["records"]].count(True) == 1


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("SELECT Id FROM Opportunity WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
        (
            "SELECT Id FROM Opportunity WHERE A__c = 1 AND Id = '1' OR Id = '2'",
            "MALFORMED_QUERY",
            "unexpected token: OR",
        ),
        (
            "SELECT Discount__c FROM Opportunity",
            "INVALID_FIELD",
            "No such column 'Discount__c' on entity 'Opportunity'",
        ),
        (
            "SELECT Acount.Name FROM Opportunity",
            "INVALID_FIELD",
            "Didn't understand relationship 'Acount'",
        ),
        ("SELECT Id FROM Deal__c", "INVALID_TYPE", "sObject type 'Deal__c' is not supported"),
        ("SELECT Id, id FROM Opportunity", "MALFORMED_QUERY", "duplicate field selected: id"),
        (
            "SELECT Id FROM Opportunity WHERE SystemModstamp > '2026-01-01T00:00:00Z'",
            "INVALID_FIELD",
            "must be of type dateTime and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Opportunity WHERE Name = 5",
            "INVALID_FIELD",
            "must be of type string and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Opportunity WHERE Special_Instructions__c = 'x'",
            "INVALID_FIELD",
            "can not be filtered",
        ),
        (
            "SELECT Id, (SELECT Id FROM Contacts) FROM Opportunity",
            "INVALID_TYPE",
            "Didn't understand relationship 'Contacts'",
        ),
    ],
)
async def test_refused_queries_get_salesforce_error_bodies(
    raw: Any, text: str, code: str, words: str
) -> None:
    client, _ = raw
    answer = await client.soql(text)
    assert answer.status_code == 400
    [error] = answer.json()
    assert error["errorCode"] == code
    assert words in error["message"]


# -- sessions, grants and the API budget -------------------------------------------------------


async def test_expired_sessions_get_401_and_the_connector_logs_in_again() -> None:
    sim = SalesforceSimulator(seed=True, batch_cap=2)
    source = connect(sim)
    pages = []
    async for page in source.changed_deals(SPECIAL, None):
        pages.append(page)
        sim.expire_sessions()  # every page after the first needs a new session
    await source.aclose()
    assert len(ids(pages)) == 6
    assert sim.oauth.grants == 3
    assert sim.controls.count("GET") == 5  # 3 pages, 2 of them refused once


async def test_a_session_refused_twice_is_an_auth_error() -> None:
    sim = SalesforceSimulator(seed=True)
    expired = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    sim.controls.inject(Fault(401, expired, path_contains=f"{V}/", times=2))
    with pytest.raises(AuthError, match="Session expired or invalid"):
        await read(sim)
    assert sim.oauth.grants == 2


async def test_wrong_client_secret_is_refused_by_the_token_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SF_SANDBOX_CLIENT_SECRET", "not-the-secret")
    with pytest.raises(AuthError, match="invalid_client"):
        await read(SalesforceSimulator(seed=True))


async def test_refresh_token_rotation_is_followed() -> None:
    sim = SalesforceSimulator(seed=True, rotate_refresh_tokens=True)
    source = connect(sim)
    await source.check()
    sim.expire_sessions()
    health = await source.check()  # needs the rotated refresh token: the old one is void
    await source.aclose()
    assert health.ok, health.detail
    assert DEMO_REFRESH_TOKEN not in sim.oauth.settings.refresh_tokens


async def test_client_credentials_login_runs_as_the_apps_user_when_the_flow_is_enabled() -> None:
    auth = {
        "flow": "client_credentials",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": "${SF_SANDBOX_CLIENT_SECRET}",
    }
    sim = SalesforceSimulator(seed=True)
    source = connect(sim, auth=auth)
    assert (await source.check()).ok
    await source.aclose()
    disabled = SalesforceSimulator(seed=True)
    disabled.oauth.settings.client_credentials = False
    refused = connect(disabled, auth=auth)
    health = await refused.check()
    await refused.aclose()
    assert not health.ok
    assert "client_credentials grant: invalid_grant" in health.detail


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


async def test_jwt_bearer_login_is_verified_with_the_apps_public_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    private, public = _key_pair()
    _, other_public = _key_pair()
    monkeypatch.setenv("SF_SANDBOX_PRIVATE_KEY", private)
    auth = {
        "flow": "jwt_bearer",
        "client_id": DEMO_CLIENT_ID,
        "username": DEMO_USERNAME,
        "private_key": "${SF_SANDBOX_PRIVATE_KEY}",
    }
    good = connect(SalesforceSimulator(seed=True, jwt_public_key=public), auth=auth)
    assert (await good.check()).ok
    await good.aclose()
    bad = connect(SalesforceSimulator(seed=True, jwt_public_key=other_public), auth=auth)
    health = await bad.check()
    await bad.aclose()
    assert not health.ok
    assert "jwt_bearer grant: invalid_grant (invalid assertion)" in health.detail


async def test_every_api_answer_carries_sforce_limit_info_and_counts(raw: Any) -> None:
    client, sim = raw
    before = sim.api_used
    answer = await client.soql("SELECT Id FROM Opportunity")
    assert answer.headers["Sforce-Limit-Info"] == f"api-usage={before + 1}/100000"
    limits = (await client.get(f"{V}/limits")).json()
    assert limits["DailyApiRequests"] == {"Max": 100000, "Remaining": 100000 - before - 2}


async def test_versions_list_needs_no_session_and_is_not_counted(raw: Any) -> None:
    client, sim = raw
    before = sim.api_used
    answer = await client.client.get("/services/data/")
    versions = [v["version"] for v in answer.json()]
    assert "61.0" in versions
    assert {
        "label": "Summer '24",
        "url": "/services/data/v61.0",
        "version": "61.0",
    } in answer.json()
    assert sim.api_used == before


async def test_exhausted_daily_allocation_answers_403_request_limit_exceeded(raw: Any) -> None:
    client, sim = raw
    sim.set_api_usage(100, 100)
    answer = await client.soql("SELECT Id FROM Opportunity")
    assert answer.status_code == 403
    assert answer.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert answer.headers["Sforce-Limit-Info"] == "api-usage=100/100"


async def test_connector_stops_at_once_on_the_spent_allocation() -> None:
    sim = SalesforceSimulator(seed=True)
    sim.set_api_usage(5000, 5000)
    with pytest.raises(BudgetExhausted) as caught:
        await read(sim)
    assert "api-usage 5000/5000" in str(caught.value)
    assert sim.controls.count("GET", "/queryAll") == 1, "one refused request, not five"


async def test_missing_token_and_unknown_paths_answer_in_salesforce_json(raw: Any) -> None:
    client, _ = raw
    anonymous = await client.client.get(f"{V}/query", params={"q": "SELECT Id FROM Account"})
    assert anonymous.status_code == 401
    assert anonymous.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    missing = await client.get(f"{V}/sobjects/Deal__c/describe")
    assert (missing.status_code, missing.json()[0]["errorCode"]) == (404, "NOT_FOUND")
    nowhere = await client.get("/services/apexrest/whatever")
    assert nowhere.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    old = await client.get("/services/data/v12.0/limits")
    assert old.status_code == 404


async def test_token_endpoint_answers_oauth_errors(raw: Any) -> None:
    client, _ = raw
    answer = await client.client.post(
        "/services/oauth2/token", data={"grant_type": "password", "username": "x"}
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "unsupported_grant_type",
        "error_description": "grant type not supported",
    }


async def test_token_answer_names_the_instance_url(raw: Any) -> None:
    client, _ = raw
    body = await client.login()
    assert body["instance_url"] == SANDBOX_URL
    assert body["token_type"] == "Bearer"
    assert {"id", "issued_at", "signature"} <= body.keys()


# -- describe and the field catalog ------------------------------------------------------------


async def test_field_catalog_from_simulated_describes_covers_the_demo_mapping() -> None:
    source = connect(SalesforceSimulator(seed=True))
    catalog = {f.path: f for f in await source.field_catalog()}
    await source.aclose()
    assert set(DEMO_PATHS) <= catalog.keys()
    assert catalog["Payment_Terms__c"].choices == ("Net 30", "Net 45", "Net 60")
    assert catalog["Free_Services__c"].type == "multipicklist"
    assert catalog["Special_Discount__c"].type == "percent"
    assert catalog["Terms_Valid_Until__c"].type == "date"
    assert catalog["Has_Special_Terms__c"].custom
    assert catalog["OpportunityContactRoles.Role"].type == "picklist"


# -- harness and volume ------------------------------------------------------------------------


async def test_contract_harness_faults_look_like_salesforce(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harness = contract_harness()
    for name, value in harness.env.items():
        monkeypatch.setenv(name, value)
    assert harness.app is not None
    assert harness.throttle_fault is not None
    assert harness.auth_fault is not None
    options = ConnectorOptions(transport=httpx.ASGITransport(app=harness.app), sleep=FakeSleep())
    config = SalesforceConfig.model_validate(harness.config)
    harness.controls.inject(harness.throttle_fault)
    source = SalesforceSource("contract", config, options)
    pages = [p async for p in source.changed_deals(DealQuery(fields=("Name",)), None)]
    assert [len(p.deals) for p in pages] == [5, 1]
    assert source.api.stats.throttled == 1
    harness.controls.inject(harness.auth_fault)
    with pytest.raises(AuthError):
        async for _ in source.changed_deals(DealQuery(fields=("Name",)), None):
            pass
    await source.aclose()


async def test_seed_bulk_pages_through_thousands_of_deals() -> None:
    sim = SalesforceSimulator()
    sim.seed_bulk(4500)
    source = connect(sim)
    pages = [p async for p in source.changed_deals(DealQuery(fields=DEMO_PATHS), None)]
    await source.aclose()
    assert [len(p.deals) for p in pages] == [2000, 2000, 500]
    assert source.requests_sent == 4  # one login, three batches
