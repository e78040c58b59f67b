"""PipedriveSimulator: one Pipedrive company in memory, its knobs, and helpers for tests.

Knobs (all per FACTS.md §7 unless off): ``plan`` and ``seats`` (daily token budget, burst
limits), ``burst`` (False: no burst window, for fake-sleep tests whose clock does not move),
``edge_block_after`` (429s in a row before Cloudflare's 403, §7.6, default off), ``send_date``
(False: answers without the ``Date`` header, as some proxies and test servers). ``clock`` is
epoch seconds and drives record times, token expiry, windows and the daily reset.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import Any

from connectors.sales.pipedrive.simulator import limits, seed
from connectors.sales.pipedrive.simulator.oauth import OAuthApp
from connectors.sales.pipedrive.simulator.store import Record, Store
from sandbox import demo_data
from sandbox.controls import ASGIApp, SimControls

DEMO_API_TOKEN = "sim-pd-0f3c9a7e2b1d4c68a5e9f0b1c2d3e4f5"  # noqa: S105 - simulator credentials
DEMO_CLIENT_ID = "sim-pd-client"
DEMO_CLIENT_SECRET = "sim-pd-client-secret-7c1e"  # noqa: S105
DEMO_REFRESH_TOKEN = "sim-pd-refresh-5b2d9e"  # noqa: S105
SANDBOX_URL = "http://pipedrive.sandbox"


class PipedriveSimulator:
    """A Pipedrive company: data, auth, limits and the ASGI app."""

    def __init__(  # noqa: PLR0913 - the knobs are the simulator's interface
        self,
        *,
        seed_demo: bool = True,
        plan: str = "lite",
        seats: int = 5,
        burst: bool = True,
        edge_block_after: int | None = None,
        edge_block_seconds: float = 3600.0,
        send_date: bool = True,
        api_domain: str = SANDBOX_URL,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
    ) -> None:
        from connectors.sales.pipedrive.simulator.api import build_app

        self.clock = clock
        self.plan = plan
        self.store = Store()
        self.store.fields = seed.catalogs()
        self.api_token = DEMO_API_TOKEN
        self.oauth = OAuthApp(
            DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN, api_domain, clock
        )
        self.budget = limits.DailyBudget(30_000 * limits.PLAN_MULTIPLIER[plan] * seats, clock)
        self._windows = (
            {
                oauth: limits.BurstWindow(limits.BURST[plan][int(oauth)], clock)
                for oauth in (False, True)
            }
            if burst
            else {}
        )
        self.edge_block_after = edge_block_after
        self.edge_block_seconds = edge_block_seconds
        self.send_date = send_date
        self.strikes: dict[str, int] = {}
        self.blocked_until: dict[str, float] = {}
        self.controls = SimControls(latency=latency)
        self.app: ASGIApp = self.controls.wrap(build_app(self))
        if seed_demo:
            self.seed_demo()

    # --- limits -------------------------------------------------------------------------------

    def burst_limit(self, *, oauth: bool) -> int:
        """Requests per 2-second window for one token of this plan."""
        return limits.BURST[self.plan][int(oauth)]

    def burst_window(self, *, oauth: bool) -> limits.BurstWindow | None:
        """The window counting one auth type's requests (None when bursts are not limited)."""
        return self._windows.get(oauth)

    def now(self) -> int:
        """The clock in whole seconds (Pipedrive's resolution)."""
        return int(self.clock())

    # --- data helpers for tests ---------------------------------------------------------------

    def add_user(self, name: str, email: str) -> int:
        """A company user (deal owner)."""
        user_id = self.store.new_id("user")
        self.store.users[user_id] = {
            "id": user_id, "name": name, "email": email, "active_flag": True,
            "is_admin": 0, "timezone_name": "Europe/Helsinki", "lang": 1,
        }  # fmt: skip
        return user_id

    def add_organization(
        self, name: str, *, custom: dict[str, Any] | None = None, owner_id: int | None = None
    ) -> int:
        """An organization; ``custom`` is keyed by field *name* (hashed here)."""
        return self._add("organization", {"name": name, "owner_id": owner_id, **_org_extra()},
                         custom)  # fmt: skip

    def add_person(
        self, name: str, email: str | None, *, org_id: int | None = None,
        custom: dict[str, Any] | None = None,
    ) -> int:  # fmt: skip
        """A person with one primary work email."""
        first, _, last = name.partition(" ")
        data = {
            "name": name, "first_name": first, "last_name": last, "owner_id": None,
            "org_id": org_id, "visible_to": 3, "label_ids": [], "picture_id": None,
            "emails": [{"value": email, "primary": True, "label": "work"}] if email else [],
            "phones": [],
        }  # fmt: skip
        return self._add("person", data, custom)

    def add_deal(  # noqa: PLR0913 - a deal's fields
        self,
        title: str,
        *,
        status: str = "won",
        value: float = 1000.0,
        currency: str = "EUR",
        org_id: int | None = None,
        person_id: int | None = None,
        owner_id: int | None = None,
        custom: dict[str, Any] | None = None,
        at: float | None = None,
        deal_id: int | None = None,
    ) -> int:
        """A deal changed at ``at`` (default now); ``custom`` keyed by field name, options by
        label (turned into ids as the API stores them)."""
        data = _deal_data(title, status, value, currency, org_id, person_id, owner_id)
        return self._add("deal", data, self._option_ids("deal", custom), at=at, record_id=deal_id)

    def update_deal(self, deal_id: int, *, at: float | None = None, **changes: Any) -> None:
        """Change standard fields (and ``custom={name: value}``); ``update_time`` moves."""
        record = self.store.records["deal"][deal_id]
        custom = changes.pop("custom", None)
        record.data.update(changes)
        if custom:
            record.custom.update(self._keyed("deal", self._option_ids("deal", custom)))
        record.update_time = self._when(at)

    def delay_listing(self, deal_id: int, seconds: float) -> None:
        """The deal's current version reaches the list endpoints only ``seconds`` from now
        (a read-after-write lag, FACTS.md §9.3: undocumented, so only tests turn it on)."""
        self.deal(deal_id).listed_from = self.clock() + seconds

    def set_custom_raw(self, deal_id: int, name: str, value: Any) -> None:
        """Store a custom value exactly as given (an option id the catalog lacks, say)."""
        record = self.store.records["deal"][deal_id]
        record.custom[self.store.custom_field("deal", name).code] = value

    def delete_deal(self, deal_id: int, *, at: float | None = None) -> None:
        """Soft-delete: listed with ``status=deleted`` for 30 days, ``update_time`` moves."""
        record = self.store.records["deal"][deal_id]
        record.deleted_at = record.update_time = self._when(at)

    def archive_deal(self, deal_id: int, *, at: float | None = None) -> None:
        """Archive: the deal leaves ``/deals`` for ``/deals/archived`` (FACTS.md §3.5)."""
        record = self.store.records["deal"][deal_id]
        record.archived_at = record.update_time = self._when(at)

    def delete_organization(self, org_id: int) -> None:
        """Delete an organization; its deals keep ``org_id`` (FACTS.md §6.4, as the doc-fake)."""
        self.store.records["organization"][org_id].deleted_at = self.now()

    def rename_field(self, entity: str, name: str, new_name: str) -> str:
        """Rename a custom field (its key stays, FACTS.md §5.3); returns the key."""
        definition = self.store.custom_field(entity, name)
        definition.name = new_name
        return definition.code

    def delete_option(self, entity: str, name: str, label: str) -> int:
        """Remove an option from an enum/set field; records keep its id. Returns the id."""
        definition = self.store.custom_field(entity, name)
        option = self.store.option_id(entity, name, label)
        definition.options = [o for o in definition.options or [] if o["id"] != option]
        return option

    def add_filter(self, **conditions: int) -> int:
        """A saved filter (``filter_id``) matching deals whose fields equal ``conditions``."""
        filter_id = len(self.store.filters) + 1
        self.store.filters[filter_id] = dict(conditions)
        return filter_id

    def deal(self, deal_id: int) -> Record:
        """The stored deal (for assertions)."""
        return self.store.records["deal"][deal_id]

    def key(self, entity: str, name: str) -> str:
        """The hash key of a custom field."""
        return self.store.custom_field(entity, name).code

    # --- seeding ------------------------------------------------------------------------------

    def seed_demo(self) -> None:
        """The Nordics territory: five deals of the demo customers, with people and owners."""
        owners = {name: self.add_user(name, email) for name, email in seed.OWNERS.items()}
        now = self.now()
        for deal in seed.DEALS:
            customer = demo_data.customer(deal.customer)
            assert customer is not None
            org = self.add_organization(
                customer.name,
                custom={
                    "Customer number": customer.external_id,
                    "Website": f"https://www.{customer.domain}",
                },
                owner_id=owners[deal.owner],
            )
            person = self.add_person(
                customer.contact_name, customer.contact_email, org_id=org,
                custom={"Contact role": self.store.option_id("person", "Contact role", "Buyer")},
            )  # fmt: skip
            self.add_deal(
                deal.title,
                status=deal.status,
                value=deal.value,
                org_id=org,
                person_id=person,
                owner_id=owners[deal.owner],
                custom=_demo_custom(deal),
                at=now - deal.modified_days_ago * 86_400 - len(deal.title) * 60,
            )

    def seed_equal_timestamps(self, n: int, at: float | None = None) -> list[int]:
        """``n`` deals that share one ``update_time`` (cursor tie-break checks)."""
        when = self.now() - 3600 if at is None else at
        org = self.add_organization("Tie Breakers Ltd", custom={"Customer number": "CUST-TIE"})
        return [self.add_deal(f"Tie {i}", org_id=org, at=when, custom=_bulk_custom(i))
                for i in range(n)]  # fmt: skip

    def seed_bulk(
        self, n: int, *, organizations: int = 100, start: float | None = None, step: float = 1.0
    ) -> list[int]:
        """``n`` deals ``step`` seconds apart over ``organizations`` organizations (and one
        person each): the backfill measurement's book."""
        first = self.now() - int(step * n) - 60 if start is None else start
        orgs = [
            self.add_organization(f"Bulk {i}", custom={"Customer number": f"BULK-{i}"})
            for i in range(organizations)
        ]
        people = [self.add_person(f"Buyer {i}", f"buyer{i}@bulk{i}.example", org_id=o)
                  for i, o in enumerate(orgs)]  # fmt: skip
        return [
            self.add_deal(
                f"Bulk deal {i}",
                org_id=orgs[i % organizations],
                person_id=people[i % organizations],
                custom=_bulk_custom(i),
                at=first + int(step * i),
            )
            for i in range(n)
        ]

    # --- internals ----------------------------------------------------------------------------

    def _add(
        self,
        entity: str,
        data: dict[str, Any],
        custom: dict[str, Any] | None,
        *,
        at: float | None = None,
        record_id: int | None = None,
    ) -> int:
        when = self._when(at)
        new_id = record_id if record_id is not None else self.store.new_id(entity)
        self.store.records[entity][new_id] = Record(
            id=new_id,
            data=data,
            custom=self._keyed(entity, custom),
            add_time=when - 86_400 * 30,
            update_time=when,
        )
        return new_id

    def _keyed(self, entity: str, custom: dict[str, Any] | None) -> dict[str, Any]:
        """Values by field name -> by the field's hash key (the key survives renames)."""
        return {self.store.custom_field(entity, n).code: v for n, v in (custom or {}).items()}

    def _when(self, at: float | None) -> int:
        return int(self.clock() if at is None else at)

    def _option_ids(self, entity: str, custom: dict[str, Any] | None) -> dict[str, Any]:
        """Option labels -> ids for enum/set fields, as the API stores values (FACTS.md §5.4)."""
        found: dict[str, Any] = {}
        for name, value in (custom or {}).items():
            kind = self.store.custom_field(entity, name).field_type
            if kind == "enum" and isinstance(value, str):
                found[name] = self.store.option_id(entity, name, value)
            elif kind == "set" and isinstance(value, list | tuple):
                found[name] = [self.store.option_id(entity, name, v) if isinstance(v, str) else v
                               for v in value]  # fmt: skip
            else:
                found[name] = value
        return found


def _deal_data(
    title: str,
    status: str,
    value: float,
    currency: str,
    org_id: int | None,
    person_id: int | None,
    owner_id: int | None,
) -> dict[str, Any]:
    """Every standard v2 deal field (FACTS.md §3.2) besides id, times and flags."""
    return {
        "title": title, "creator_user_id": owner_id, "owner_id": owner_id, "value": value,
        "person_id": person_id, "org_id": org_id, "stage_id": 5 if status == "won" else 2,
        "pipeline_id": 1, "currency": currency, "stage_change_time": None, "status": status,
        "probability": None, "lost_reason": "Budget cut" if status == "lost" else None,
        "visible_to": 3, "close_time": None, "won_time": None, "lost_time": None,
        "local_won_date": None, "local_lost_date": None, "local_close_date": None,
        "expected_close_date": None, "label_ids": [], "origin": "ManuallyCreated",
        "origin_id": None, "channel": None, "channel_id": None, "acv": None, "arr": None,
        "mrr": None,
    }  # fmt: skip


def _org_extra() -> dict[str, Any]:
    return {"visible_to": 3, "label_ids": [], "address": None}


def _iso_date(day: date) -> str:
    return day.isoformat()


def _demo_custom(deal: seed.DemoDeal) -> dict[str, Any]:
    return {
        "Special discount (%)": deal.discount,
        "Payment terms": deal.payment_terms,
        "Free services": list(deal.free_services),
        "SLA promise": deal.sla,
        "Terms valid until": _iso_date(deal.valid_until),
        "Approved by": deal.approved_by,
        "Contract value (net)": {"value": round(deal.value * 0.8), "currency": "EUR"},
    }


def _bulk_custom(i: int) -> dict[str, Any]:
    return {
        "Special discount (%)": 5 + i % 20,
        "Payment terms": ("Net 30", "Net 45", "Net 60")[i % 3],
        "Free services": [seed.FREE_SERVICES[i % 5]],
        "Terms valid until": _iso_date(demo_data.days(90 + i % 200)),
        "Approved by": "VP Sales",
    }
