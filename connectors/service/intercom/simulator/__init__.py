"""An Intercom REST API simulator (2.15): companies, contacts, notes, data attributes, tickets.

Played from ``connectors/service/intercom/FACTS.md``; each module names the sections it models:
``app`` (auth §1.2, version header §1.3, errors §2), ``limits`` (10-second windows and their
headers §3), ``scroll`` (the company scroll §4.7), ``store`` (records, create-or-update §4.2,
merges §4.3/§5.5, users-only external-id lookup §5.2, the lagging contact search §5.3, notes
§7), ``search`` (the contact query language and its day-granular dates §5.3), ``attributes``
(the catalog and what custom attribute writes may carry §6), ``tickets`` (alert tickets).

Time: a :class:`~sandbox.controls.SimTime` drives record stamps, search lag, scroll expiry
and the rate windows; tests move it with :meth:`IntercomSimulator.pass_time`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, tzinfo
from typing import Any

from connectors.service.intercom.simulator.app import Workspace, build_app
from connectors.service.intercom.simulator.limits import AppBudget
from connectors.service.intercom.simulator.scroll import RESTART_MESSAGE, Scrolls
from connectors.service.intercom.simulator.seed import NOTE_ATTRIBUTE, seed_bulk, seed_demo
from connectors.service.intercom.simulator.store import (
    COMPANY,
    CONTACT,
    Clock,
    IntercomStore,
    utc_now,
)
from connectors.service.intercom.simulator.tickets import TicketDesk
from sandbox.controls import ASGIApp, Fault, SimControls, SimTime
from sandbox.harness import ContractHarness

DEMO_TOKEN = "ic-demo-token-Hq4Rw8Zt2Vn6"  # noqa: S105 - the sandbox's demo credential
"""The access token the demo simulator accepts (a demo credential, not a secret)."""
DEMO_BASE_URL = "https://api.intercom.io"
DEMO_ENV = "INTERCOM_ACCESS_TOKEN"
DEMO_ADMIN_ID = "991200001"
SEARCH_LAG = 180.0
"""Seconds before the contact search sees a change: new contacts "can take a few minutes" to be
searchable (FACTS.md §5.3); three minutes is this simulator's reading of "a few"."""
SCROLL_PAGE_SIZE = 50
"""Companies per scroll page: Intercom does not document it (FACTS.md §4.7, Gaps)."""

__all__ = [
    "COMPANY",
    "CONTACT",
    "DEMO_ADMIN_ID",
    "DEMO_BASE_URL",
    "DEMO_ENV",
    "DEMO_TOKEN",
    "NOTE_ATTRIBUTE",
    "IntercomSimulator",
    "contract_harness",
    "demo_app",
]


class IntercomSimulator:
    """One simulated workspace: ``.app`` (wrapped by ``.controls``) plus test helpers."""

    def __init__(  # noqa: PLR0913 - every knob is a documented behaviour's parameter
        self,
        *,
        token: str = DEMO_TOKEN,
        requests_per_minute: int = 10_000,
        search_lag: float = SEARCH_LAG,
        scroll_page_size: int = SCROLL_PAGE_SIZE,
        zone: tzinfo = UTC,
        latency: float = 0.0,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.time = SimTime(clock, monotonic)
        self.store = IntercomStore(self.time.wall, search_lag=search_lag)
        self.tickets = TicketDesk(self.store.now)
        self.alert_type = self.tickets.add_type("dealbridge alerts")
        self.controls = SimControls(latency=latency)
        admin = {
            "type": "admin",
            "id": DEMO_ADMIN_ID,
            "email": "dealbridge@contact-center.example",
            "name": "dealbridge",
            "email_verified": True,
        }
        self.workspace = Workspace(
            store=self.store,
            tickets=self.tickets,
            token=token,
            budget=AppBudget(requests_per_minute, self.time.monotonic, self.store.now_seconds),
            scrolls=Scrolls(scroll_page_size, self.time.monotonic),
            admin=admin,
            zone=zone,
        )
        self.app: ASGIApp = self.controls.wrap(build_app(self.workspace))
        self.customers: dict[str, tuple[str, str]] = {}

    def seed_demo(self) -> IntercomSimulator:
        """Add the demo world's customers; ``self.customers`` maps keys to (company, contact)."""
        self.customers = seed_demo(self.store)
        return self

    def seed_bulk(self, count: int) -> None:
        """Add ``count`` synthetic companies and users (benchmarks)."""
        seed_bulk(self.store, count, start=len(self.store.companies))

    def add_company(self, name: str, company_id: str, **fields: Any) -> dict[str, Any]:
        """A new company; ``fields`` may set website, custom_attributes, updated_at."""
        return self.store.add_company(name, company_id, **fields)

    def add_contact(self, name: str | None, email: str | None, **fields: Any) -> dict[str, Any]:
        """A new contact (searchable after the search lag unless ``indexed=True``)."""
        return self.store.add_contact(name, email, **fields)

    def agent_edit(self, kind: str, record_id: str, **fields: Any) -> dict[str, Any]:
        """What a teammate saving the record in Intercom's inbox does (no API validation)."""
        return self.store.apply(kind, record_id, fields)

    def named(self, name: str) -> tuple[str, str]:
        """The record an agent finds by ``name`` (companies first): (kind, id)."""
        for kind in (COMPANY, CONTACT):
            for record_id, record in self.store.records(kind).items():
                if record.get("name") == name:
                    return kind, record_id
        raise KeyError(f"no record named {name}")

    def remove(self, kind: str, record_id: str) -> None:
        """An agent deletes the record (``kind`` and id as the connector names them)."""
        self.delete(kind, record_id)

    def record(self, kind: str, record_id: str) -> dict[str, Any]:
        """The stored company or contact (KeyError when absent)."""
        return self.store.records(kind)[record_id]

    def delete(self, kind: str, record_id: str) -> None:
        """Delete a company or contact, as a teammate can."""
        self.store.delete(kind, record_id)

    def break_scroll(self) -> None:
        """The open scroll's next page fails with the 500 that asks for a restart (§4.7)."""
        self.workspace.scrolls.break_next = True

    def pass_time(self, seconds: float) -> None:
        """Let time pass: the search catches up, scrolls expire, windows refill."""
        self.time.pass_time(seconds)

    def requests(self, method: str | None = None, path_contains: str = "") -> int:
        """How many requests reached the simulator."""
        return self.controls.count(method, path_contains)

    @property
    def versions(self) -> dict[str, int]:
        """``Intercom-Version`` header values received, and how often."""
        return dict(self.workspace.versions)


def demo_app() -> ASGIApp:
    """The seeded demo simulator's app (``dealbridge sandbox serve`` and the demo)."""
    return IntercomSimulator().seed_demo().app


def throttle_fault() -> Fault:
    """How Intercom says "slow down": 429 ``rate_limit_exceeded``, window headers, no
    Retry-After (FACTS.md §3.3)."""
    headers = {
        "X-RateLimit-Limit": "167",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(time.time()) + 2),
    }
    body = {
        "type": "error.list",
        "request_id": "5d4a0a43-0f55-4a19-a2e6-4c2d3e1b7a10",
        "errors": [
            {"code": "rate_limit_exceeded", "message": "Exceeded rate limit of 167 in 10_seconds"}
        ],
    }
    return Fault(status=429, body=body, path_contains="/", headers=headers)


def auth_fault() -> Fault:
    """How Intercom refuses a token (served on every call, FACTS.md §1.2)."""
    body = {
        "type": "error.list",
        "request_id": "b8a1a3c2-50a4-4b8e-9c55-3f3f0e2b1d44",
        "errors": [{"code": "unauthorized", "message": "Access Token Invalid"}],
    }
    return Fault(status=401, body=body, path_contains="/", times=10**9)


def contract_harness() -> ContractHarness:
    """A seeded simulator and a config with small pages, for the shared contract suite."""
    page_size = 5
    sim = IntercomSimulator(scroll_page_size=page_size).seed_demo()

    def seed_customers(count: int) -> None:
        for n in range(count):
            if n % 2 == 0:
                sim.add_company(f"Contract Co {n}", f"CONTRACT-{n:03d}")
            else:
                sim.add_contact(f"Contract Person {n}", f"person{n}@contract.example", indexed=True)

    return ContractHarness(
        text_field=("company", "custom_attributes.sla_promise"),
        kind="intercom",
        app=sim.app,
        controls=sim.controls,
        config={
            "kind": "intercom",
            "base_url": DEMO_BASE_URL,
            "access_token": "${" + DEMO_ENV + "}",
            "contact_page_size": page_size,
            "requests_per_minute": 10_000,
        },
        env={DEMO_ENV: DEMO_TOKEN},
        secret=DEMO_TOKEN,
        throttle_fault=throttle_fault(),
        auth_fault=auth_fault(),
        seed_customers=seed_customers,
        page_size=page_size,
        extra={
            "simulator": sim,
            "record_kinds": (COMPANY, CONTACT),
            "restart": RESTART_MESSAGE,
            # what alert tickets need on top of the config (a ticket type and a contact)
            "ticket_config": {
                "ticket_type_id": sim.alert_type["id"],
                "alert_contact_email": "ops@contact-center.example",
            },
        },
    )


DEMO_CREDENTIALS = {"DEALBRIDGE_INTERCOM_TOKEN": DEMO_TOKEN}
"""The variables the demo config's secret references read (demo credentials, not secrets)."""


def demo_simulator(fast: bool = False) -> IntercomSimulator:
    """The demo world's contact center (its budget is already above the connector's)."""
    del fast
    return IntercomSimulator().seed_demo()
