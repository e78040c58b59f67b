"""HubSpotSimulator: one simulated HubSpot account, its limits, tokens and test helpers."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from connectors.sales.hubspot.simulator import seed
from connectors.sales.hubspot.simulator.store import CrmObject, CrmStore
from sandbox import demo_data
from sandbox.controls import ASGIApp, SimControls, SimTime, WindowLimiter

# Demo credentials: they open nothing but this simulator.
DEMO_ACCESS_TOKEN = "pat-na1-5f1d2c3b-9a8e-4f7d-b6c5-0e1f2a3b4c5d"  # noqa: S105
DEMO_CLIENT_ID = "3f9e6a2c-1b4d-4e8f-a7c6-5d2b1e0f9a8c"
DEMO_CLIENT_SECRET = "c0ffee00-5ec2-4e7a-9b1d-8a6f4c3e2d1b"  # noqa: S105
DEMO_REFRESH_TOKEN = "na1-7a6b-5c4d-3e2f-1a0b-9c8d7e6f5a4b"  # noqa: S105
SEARCH_LAG = 5.0
"""Seconds before a deal change is searchable: search results lag writes "slightly"
(sales-apis.md section 2, [M]); five seconds is this simulator's reading of it."""


def utc_now() -> datetime:
    """The account's wall clock (tests pass one they move)."""
    return datetime.now(UTC)


class HubSpotSimulator:
    """In-memory HubSpot account behind a Starlette app; limits and caps are knobs for tests."""

    def __init__(  # noqa: PLR0913 - each knob is a documented HubSpot limit
        self,
        *,
        seed_demo: bool = True,
        search_cap: int = 10_000,
        search_page_max: int = 200,
        search_per_second: int | None = 5,
        ten_second_limit: int | None = 190,
        daily_limit: int = 650_000,
        token_ttl: int = 1800,
        association_page: int = 500,
        search_lag: float = SEARCH_LAG,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
        latency: float = 0.0,
    ) -> None:
        from connectors.sales.hubspot.simulator.api import build_app

        self.store = CrmStore()
        self.properties = seed.property_definitions()
        self.search_cap = search_cap
        self.search_page_max = search_page_max
        self.association_page = association_page
        self.token_ttl = token_ttl
        self.daily_limit = daily_limit
        self.daily_used = 0
        self.time = SimTime(now, clock)
        self.clock = self.time.monotonic
        self.now = self.time.wall
        self.search_lag = search_lag
        self.search_limiter = _limiter(search_per_second, 1.0, self.clock)
        self.ten_second_limiter = _limiter(ten_second_limit, 10.0, self.clock)
        self.access_tokens: dict[str, float] = {}
        self.private_token = DEMO_ACCESS_TOKEN
        self.oauth_client = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN)
        self.controls = SimControls(latency=latency)
        self.app: ASGIApp = self.controls.wrap(build_app(self))
        if seed_demo:
            self.seed_demo()

    def pass_time(self, seconds: float) -> None:
        """Let time pass for this account: the search index catches up, windows refill."""
        self.time.pass_time(seconds)

    # --- tokens -------------------------------------------------------------------------------

    def issue_token(self) -> tuple[str, int]:
        """A new OAuth access token and its lifetime in seconds."""
        token = f"sim-at-{secrets.token_hex(16)}"
        self.access_tokens[token] = self.clock() + self.token_ttl
        return token, self.token_ttl

    def expire_tokens(self) -> None:
        """Make every OAuth access token issued so far expired (the private token stays good)."""
        now = self.clock()
        self.access_tokens = {t: min(exp, now - 1) for t, exp in self.access_tokens.items()}

    def property_types(self, kind: str) -> dict[str, str]:
        """Property name -> HubSpot type, for comparisons in search filters."""
        return {p["name"]: p["type"] for p in self.properties[kind]}

    # --- data helpers for tests ---------------------------------------------------------------

    def add_owner(self, email: str, first: str, last: str) -> str:
        """Add an active owner (a HubSpot user who can own deals); returns its id."""
        owner_id = str(70_000 + len(self.store.owners) + 1)
        self.store.owners[owner_id] = {
            "id": owner_id, "email": email, "firstName": first, "lastName": last,
            "userId": 9_000_000 + len(self.store.owners), "type": "PERSON",
            "createdAt": seed.CREATED, "updatedAt": seed.CREATED, "archived": False, "teams": [],
        }  # fmt: skip
        return owner_id

    def add_object(
        self, kind: str, properties: dict[str, str | None], *, modified: datetime | None = None
    ) -> str:
        """Add a company or contact (or a deal without associations); returns its id."""
        when = modified or self.now()
        obj = CrmObject(
            id=self.store.new_id(kind),
            properties={**properties, "createdate": _iso(when - timedelta(days=30))},
            created_at=when - timedelta(days=30),
            updated_at=when,
        )
        self.store.put(kind, obj)
        return obj.id

    def add_company(self, name: str, domain: str | None, customer_number: str | None = None) -> str:
        """Add a company; ``customer_number`` is the contact center's id for it."""
        props = {"name": name, "domain": domain, "customer_number": customer_number}
        return self.add_object("companies", props)

    def add_contact(self, email: str, first: str = "", last: str = "") -> str:
        """Add a contact person."""
        return self.add_object("contacts", {"email": email, "firstname": first, "lastname": last})

    def add_deal(
        self,
        properties: dict[str, str | None],
        *,
        modified: datetime | None = None,
        companies: Iterable[str] = (),
        contacts: Iterable[str] = (),
        deal_id: str | None = None,
    ) -> str:
        """Add a deal modified at ``modified`` (default now), linked to companies and contacts.

        The first company becomes the deal's primary company, as in HubSpot's UI.
        """
        when = modified or self.now()
        new_id = deal_id or self.store.new_id("deals")
        created = when - timedelta(days=30)
        obj = CrmObject(
            id=new_id,
            properties={**properties, "createdate": _iso(created)},
            created_at=created,
            updated_at=when,
        )
        self.store.put("deals", obj)
        for index, company in enumerate(companies):
            self.store.associate("deals", new_id, "companies", company)
            if index == 0:
                self.store.primary.add((new_id, company))
        for contact in contacts:
            self.store.associate("deals", new_id, "contacts", contact)
        return new_id

    def update_deal(
        self, deal_id: str, *, modified: datetime | None = None, **props: str | None
    ) -> None:
        """Change properties and move ``hs_lastmodifieddate`` to ``modified`` (default now)."""
        old = self.store.objects["deals"][deal_id]
        new = replace(
            old, properties={**old.properties, **props}, updated_at=modified or self.now()
        )
        self.store.put("deals", new)

    def set_modified(self, deal_id: str, when: datetime) -> None:
        """Move a deal's ``hs_lastmodifieddate`` without changing anything else."""
        self.update_deal(deal_id, modified=when)

    def archive_deal(self, deal_id: str, at: datetime | None = None) -> None:
        """Archive (delete) a deal: it leaves search and appears in ``?archived=true``."""
        self.store.archive("deals", deal_id, at or self.now())

    def deal(self, deal_id: str) -> CrmObject:
        """The stored deal (for assertions)."""
        return self.store.objects["deals"][deal_id]

    # --- seeding ------------------------------------------------------------------------------

    def seed_demo(self) -> None:
        """The EMEA territory's deals from ``sandbox.demo_data``, with companies and contacts."""
        owners: dict[str, str] = {}
        for deal in demo_data.deals_for("hubspot"):
            if deal.owner_email not in owners:
                first, _, last = deal.owner_name.partition(" ")
                owners[deal.owner_email] = self.add_owner(deal.owner_email, first, last)
            company = self.add_object("companies", seed.demo_company(deal))
            person = seed.demo_contact(deal)
            contacts = [self.add_object("contacts", person)] if person else []
            self.add_deal(
                seed.demo_deal_properties(deal, owners[deal.owner_email]),
                modified=seed.demo_modified(deal),
                companies=[company],
                contacts=contacts,
                deal_id=seed.demo_id(deal),
            )

    def seed_equal_timestamps(self, n: int, at: datetime | None = None) -> list[str]:
        """Add ``n`` deals that share one ``hs_lastmodifieddate`` (cursor tie-break checks)."""
        when = at or (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
        company = self.add_company("Tie Breakers Ltd", "ties.example", "CUST-TIE")
        return [self.add_deal(_bulk_props(i), modified=when, companies=[company]) for i in range(n)]

    def seed_bulk(self, n: int, *, start: datetime | None = None, step_ms: int = 1000) -> list[str]:
        """Add ``n`` deals one every ``step_ms`` from ``start``, over 100 companies (benchmarks)."""
        first = start or datetime.now(UTC) - timedelta(milliseconds=step_ms * (n + 1))
        companies = [
            self.add_company(f"Bulk {i}", f"bulk{i}.example", f"BULK-{i}") for i in range(100)
        ]
        contacts = [
            self.add_contact(f"buyer{i}@bulk{i}.example", "Bulk", str(i)) for i in range(100)
        ]
        return [
            self.add_deal(
                _bulk_props(i),
                modified=first + timedelta(milliseconds=step_ms * i),
                companies=[companies[i % 100]],
                contacts=[contacts[i % 100]],
            )
            for i in range(n)
        ]


def _bulk_props(i: int) -> dict[str, str | None]:
    return {
        "dealname": f"Bulk deal {i}",
        "dealstage": "closedwon",
        "pipeline": "default",
        "amount": str(1000 + i),
        "special_discount": str(5 + i % 20),
        "payment_terms": ("Net 30", "Net 45", "Net 60")[i % 3],
        "has_special_terms": "true",
    }


def _limiter(limit: int | None, window: float, clock: Callable[[], float]) -> WindowLimiter | None:
    return WindowLimiter(limit, window, clock) if limit else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
