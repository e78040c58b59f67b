"""A Freshdesk API v2 simulator: companies, contacts, field definitions, filter API, limits.

Faithful to the endpoints the Freshdesk target uses (see ``connectors.service.freshdesk``):
list paging with ``Link: <...>; rel="next"``, contact filters (``_updated_since`` and the
``updated_since`` spelling, ``email``, ``company_id``, ``state``, ``unique_external_id``), the
filter API (30 a page, pages 1-10, query in double quotes, <= 512 characters, answered from an
index that sees changes ``search_lag`` seconds late), GET/PUT one record with validation
against the field definitions (dropdown choices, numbers, dates, 255-character text),
Basic auth, the per-minute account budget with its headers, the lower contact-list budget,
and 429 + ``Retry-After``. Faults and latency come from :class:`SimControls`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.service.freshdesk.simulator.app import INVALID_CREDENTIALS, Budgets, build_app
from connectors.service.freshdesk.simulator.seed import seed_bulk, seed_demo
from connectors.service.freshdesk.simulator.store import (
    COMPANY,
    CONTACT,
    Clock,
    FreshdeskStore,
    utc_now,
)
from connectors.service.freshdesk.simulator.tickets import TicketBook
from sandbox.controls import ASGIApp, Fault, SimControls, SimTime, WindowLimiter
from sandbox.harness import ContractHarness

DEMO_API_KEY = "fd-demo-key-Zq7Lp2Xw9Vb4"
"""The API key the demo simulator accepts (a demo credential, not a secret)."""
DEMO_BASE_URL = "https://dealbridge-demo.freshdesk.com"
DEMO_ENV = "FRESHDESK_API_KEY"
SEARCH_LAG = 180.0
"""Seconds before the filter API sees a change: "updates may take a few minutes to be
indexed" [API docs "Filter Companies", "Filter Contacts"]; three minutes is this simulator's
reading of "a few"."""

__all__ = [
    "DEMO_API_KEY",
    "DEMO_BASE_URL",
    "DEMO_ENV",
    "FreshdeskSimulator",
    "contract_harness",
    "demo_app",
]


class FreshdeskSimulator:
    """One simulated Freshdesk account: ``.app`` (wrapped by ``.controls``) plus test helpers."""

    def __init__(
        self,
        *,
        api_key: str = DEMO_API_KEY,
        requests_per_minute: int = 700,
        contact_list_per_minute: int = 200,
        search_lag: float = SEARCH_LAG,
        latency: float = 0.0,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.time = SimTime(clock, monotonic)
        monotonic = self.time.monotonic
        self.store = FreshdeskStore(self.time.wall, search_lag=search_lag)
        self.controls = SimControls(latency=latency)
        self.budgets = Budgets(
            account=WindowLimiter(requests_per_minute, 60.0, monotonic),
            contact_lists=WindowLimiter(contact_list_per_minute, 60.0, monotonic),
        )
        self.tickets = TicketBook(self.store.clock)
        app = build_app(self.store, api_key, self.budgets, self.tickets)
        self.app: ASGIApp = self.controls.wrap(app)
        self.customers: dict[str, tuple[int, int]] = {}

    def seed_demo(self) -> FreshdeskSimulator:
        """Add the demo world's customers; ``self.customers`` maps keys to (company, contact)."""
        self.customers = seed_demo(self.store)
        self.store.settle_search()
        return self

    def seed_bulk(self, count: int) -> None:
        """Add ``count`` synthetic companies and contacts (benchmarks)."""
        seed_bulk(self.store, count, start=len(self.store.records[COMPANY]))
        self.store.settle_search()

    def add_company(self, name: str, **fields: Any) -> dict[str, Any]:
        """A new company; ``fields`` may set domains, description, note, custom_fields."""
        return self.store.add_company(name, **fields)

    def add_contact(self, name: str, email: str | None, **fields: Any) -> dict[str, Any]:
        """A new contact; ``fields`` may set company_id, other_emails, custom_fields..."""
        return self.store.add_contact(name, email, **fields)

    def agent_edit(self, kind: str, record_id: int, **fields: Any) -> dict[str, Any]:
        """What an agent saving the record in the Freshdesk UI does (no API validation)."""
        return self.store.apply(kind, record_id, fields)

    def named(self, name: str) -> tuple[str, str]:
        """The record an agent finds by ``name`` (companies first): (kind, id)."""
        for kind, records in self.store.records.items():
            for record_id, record in records.items():
                if record.get("name") == name:
                    return kind, str(record_id)
        raise KeyError(f"no record named {name}")

    def remove(self, kind: str, record_id: str) -> None:
        """An agent deletes the record (``kind`` and id as the connector names them)."""
        if kind == COMPANY:
            self.delete_company(int(record_id))
        else:
            self.delete_contact(int(record_id))

    def record(self, kind: str, record_id: int) -> dict[str, Any]:
        """The stored record (raises KeyError when absent)."""
        found = self.store.get(kind, record_id)
        if found is None:
            raise KeyError(f"no {kind} {record_id}")
        return found

    def delete_contact(self, record_id: int) -> None:
        """Soft-delete a contact, as the Freshdesk UI does."""
        self.store.soft_delete_contact(record_id)

    def delete_company(self, record_id: int) -> None:
        """Delete a company for good."""
        self.store.delete_company(record_id)

    def pass_time(self, seconds: float) -> None:
        """Let time pass for this account: the filter API catches up, budgets refill."""
        self.time.pass_time(seconds)

    def set_updated_at(self, kind: str, record_id: int, moment: datetime) -> None:
        """Set a record's ``updated_at`` (ties and ordering in tests)."""
        self.store.set_updated_at(kind, record_id, moment)

    def requests(self, method: str | None = None, path_contains: str = "") -> int:
        """How many requests reached the simulator."""
        return self.controls.count(method, path_contains)


def demo_app() -> ASGIApp:
    """The seeded demo simulator's app (``dealbridge sandbox serve`` and the demo)."""
    return FreshdeskSimulator().seed_demo().app


def throttle_fault() -> Fault:
    """How Freshdesk says "slow down": 429 with Retry-After seconds and the budget headers."""
    headers = {
        "Retry-After": "2",
        "X-Ratelimit-Total": "200",
        "X-Ratelimit-Remaining": "0",
        "X-Ratelimit-Used-CurrentRequest": "1",
    }
    return Fault(status=429, body="", path_contains="/api/v2/", headers=headers)


def auth_fault() -> Fault:
    """How Freshdesk refuses a wrong API key (served on every call)."""
    return Fault(status=401, body=INVALID_CREDENTIALS, path_contains="/api/v2/", times=10**9)


def contract_harness() -> ContractHarness:
    """A seeded simulator and a config with small pages, for the shared contract suite."""
    sim = FreshdeskSimulator().seed_demo()
    page_size = 5

    def seed_customers(count: int) -> None:
        for n in range(count):
            if n % 2 == 0:
                sim.add_company(f"Contract Co {n}", domains=(f"contract{n}.example",))
            else:
                sim.add_contact(f"Contract Person {n}", f"person{n}@contract.example")

    return ContractHarness(
        text_field=("company", "description"),
        kind="freshdesk",
        app=sim.app,
        controls=sim.controls,
        config={
            "kind": "freshdesk",
            "base_url": DEMO_BASE_URL,
            "api_key": "${" + DEMO_ENV + "}",
            "per_page": page_size,
            "rate_per_second": 1000,
            "contact_list_per_minute": 60_000,
        },
        env={DEMO_ENV: DEMO_API_KEY},
        secret=DEMO_API_KEY,
        throttle_fault=throttle_fault(),
        auth_fault=auth_fault(),
        seed_customers=seed_customers,
        page_size=page_size,
        extra={"simulator": sim, "record_kinds": (COMPANY, CONTACT)},
    )


DEMO_CREDENTIALS = {"DEALBRIDGE_FRESHDESK_KEY": DEMO_API_KEY}
"""The variables the demo config's secret references read (demo credentials, not secrets)."""


def demo_simulator(fast: bool = False) -> FreshdeskSimulator:
    """The demo world's contact center; ``fast`` lifts the per-minute budgets."""
    if fast:
        return FreshdeskSimulator(
            requests_per_minute=60_000, contact_list_per_minute=60_000
        ).seed_demo()
    return FreshdeskSimulator().seed_demo()
