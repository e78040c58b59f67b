"""A ServiceNow CSM simulator: Table API, Batch API, OAuth, dictionary and rate-limit rules.

Plays the instance as ``FACTS.md`` (one folder up) describes it; each module names the
sections it models: ``store`` (records, hierarchy, dictionary and choice rows, what an update
ignores, cuts or refuses to clear), ``encoded`` (encoded queries, unknown columns dropped
silently), ``app`` (endpoints, paging, the Batch API and its 30-second quota), ``limits``
(per-hour rules with counts committed every 30 s). Time is a :class:`sandbox.controls.SimTime`
that tests move with :meth:`ServiceNowSimulator.pass_time`; Batch API items spend it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from connectors.service.servicenow.simulator.app import (
    UNAUTHENTICATED,
    Instance,
    Settings,
    build_app,
)
from connectors.service.servicenow.simulator.limits import RateLimits, RateRule
from connectors.service.servicenow.simulator.seed import define_schema, seed_bulk, seed_demo
from connectors.service.servicenow.simulator.store import ColumnDef, Store, utc_now
from sandbox.controls import ASGIApp, Fault, SimControls, SimTime
from sandbox.harness import ContractHarness

DEMO_BASE_URL = "https://dealbridge-demo.service-now.com"
DEMO_CLIENT_ID = "dealbridge-demo-client"
DEMO_CLIENT_SECRET = "sn-demo-secret-Pw4Xt8Lq2Zr6"  # noqa: S105 - published demo credential
DEMO_USER = "dealbridge.integration"
DEMO_PASSWORD = "sn-demo-password-Kd7Vb3Nm9Q"  # noqa: S105 - published demo credential
DEMO_ENV = "DEALBRIDGE_SERVICENOW_SECRET"
KINDS = {"account": "customer_account", "contact": "customer_contact", "consumer": "csm_consumer"}

__all__ = [
    "DEMO_BASE_URL",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_ENV",
    "ServiceNowSimulator",
    "contract_harness",
    "demo_app",
]


class ServiceNowSimulator:
    """One simulated instance: ``.app`` (wrapped by ``.controls``) plus test helpers."""

    def __init__(
        self,
        *,
        item_seconds: float = 0.05,
        batch_counts_items: bool = False,
        truncate: bool = True,
        latency: float = 0.0,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.time = SimTime(clock, monotonic)
        self.store = Store(self.time.wall, truncate=truncate)
        define_schema(self.store)
        self.limits = RateLimits(
            self.time.wall, self.time.monotonic, batch_counts_items=batch_counts_items
        )
        self.settings = Settings(
            base_url=DEMO_BASE_URL,
            users={DEMO_USER: DEMO_PASSWORD},
            clients={DEMO_CLIENT_ID: DEMO_CLIENT_SECRET},
            item_seconds=item_seconds,
        )
        self.instance = Instance(self.store, self.limits, self.settings, self.time)
        self.controls = SimControls(latency=latency)
        self.app: ASGIApp = self.controls.wrap(build_app(self.instance))
        self.customers: dict[str, tuple[str, str]] = {}

    # -- seeding -------------------------------------------------------------------------

    def seed_demo(self) -> ServiceNowSimulator:
        """The demo world's customers as accounts and contacts (``self.customers``)."""
        self.customers = seed_demo(self.store)
        return self

    def seed_bulk(self, count: int) -> list[str]:
        """``count`` synthetic accounts (benchmarks); their sys_ids."""
        start = len(self.store.rows["customer_account"])
        return seed_bulk(self.store, count, start=start)

    def add(self, kind: str, **values: Any) -> dict[str, str]:
        """A new record of ``kind`` (account, contact, consumer) as an agent creates it."""
        return self.store.insert(KINDS[kind], values, user="agent")

    def add_column(self, kind_or_table: str, column: ColumnDef) -> None:
        """An admin adds a column (``u_`` field) to a table."""
        self.store.add_column(KINDS.get(kind_or_table, kind_or_table), column)

    # -- what agents and admins do ---------------------------------------------------------

    def agent_edit(self, kind: str, sys_id: str, **values: Any) -> dict[str, str]:
        """An agent saves the form: bumps ``sys_mod_count`` when something changed."""
        row, _ = self.store.update(KINDS[kind], sys_id, values, user="agent")
        return row

    def named(self, name: str) -> tuple[str, str]:
        """The record an agent finds by ``name`` (accounts first): (kind, sys_id)."""
        for kind, table in KINDS.items():
            for sys_id, row in self.store.rows.get(table, {}).items():
                if row.get("name") == name:
                    return kind, sys_id
        raise KeyError(f"no record named {name}")

    def remove(self, kind: str, record_id: str) -> None:
        """An agent deletes the record (``kind`` and id as the connector names them)."""
        self.delete(kind, record_id)

    def record(self, kind: str, sys_id: str) -> dict[str, str]:
        """The stored row (KeyError when deleted)."""
        return self.store.rows[KINDS.get(kind, kind)][sys_id]

    def delete(self, kind: str, sys_id: str) -> None:
        """Delete a record."""
        self.store.delete(KINDS[kind], sys_id)

    def hide(self, sys_id: str) -> None:
        """An ACL hides the record from the integration user."""
        self.store.hidden.add(sys_id)

    def work_notes(self, case_id: str) -> list[str]:
        """A case's work-note entries, oldest first."""
        return self.store.journal("sn_customerservice_case", case_id, "work_notes")

    def set_updated_on(self, kind: str, sys_id: str, moment: datetime) -> None:
        """Set a record's ``sys_updated_on`` (ties and ordering in tests)."""
        self.store.rows[KINDS[kind]][sys_id]["sys_updated_on"] = moment.strftime(
            "%Y-%m-%d %H:%M:%S"
        )

    # -- switches --------------------------------------------------------------------------

    def add_rate_rule(
        self, limit: int, resources: tuple[str, ...] = ("table", "batch")
    ) -> RateRule:
        """A per-hour rate-limit rule for the integration user."""
        return self.limits.add(RateRule(limit=limit, resources=frozenset(resources)))

    def remove_batch_api(self) -> None:
        """``/api/now/v1/batch`` answers 400, as on an instance without it (FACTS.md 8.5)."""
        self.settings.batch_available = False

    def unservice_next(self, count: int) -> None:
        """Leave the next ``count`` batch items (and any after them in their batch) unserviced."""
        self.settings.unservice_next = count

    def pass_time(self, seconds: float) -> None:
        """Let time pass for the instance (tokens expire, rate-limit counts commit, hours end)."""
        self.time.pass_time(seconds)

    def requests(self, method: str | None = None, path_contains: str = "") -> int:
        """How many requests reached the simulator."""
        return self.controls.count(method, path_contains)


def demo_app() -> ASGIApp:
    """The seeded demo simulator's app (``dealbridge sandbox serve`` and the demo)."""
    return ServiceNowSimulator().seed_demo().app


def throttle_fault() -> Fault:
    """How ServiceNow says "slow down": 429 with Retry-After, the rule headers and envelope."""
    headers = {
        "Retry-After": "2",
        "X-RateLimit-Limit": "1000",
        "X-RateLimit-Reset": str(int(time.time()) + 2),
        "X-RateLimit-Rule": "0f3a6c1e2b7d4e8f9a0b1c2d3e4f5a6b",
    }
    body = {
        "error": {
            "message": "Rate limit exceeded",
            "detail": "Rate limit of 1000 requests per hour for Table API exceeded",
        },
        "status": "failure",
    }
    return Fault(status=429, body=body, path_contains="/api/now/", headers=headers)


def auth_fault() -> Fault:
    """How ServiceNow refuses missing or wrong credentials (served on every call)."""
    return Fault(status=401, body=UNAUTHENTICATED, path_contains="/api/now/", times=10**9)


def contract_harness() -> ContractHarness:
    """A seeded simulator and an OAuth config with small pages, for the contract suite."""
    sim = ServiceNowSimulator().seed_demo()
    page_size = 5

    def seed_customers(count: int) -> None:
        base = sim.time.wall() - timedelta(minutes=30)
        for n in range(count):
            row = sim.add(
                "account",
                name=f"Contract Co {n}",
                website=f"https://contract{n}.example",
                u_customer_number=f"CONTRACT-{n}",
            )
            # Three records share each second: keyset paging must neither skip nor repeat.
            sim.set_updated_on("account", row["sys_id"], base + timedelta(seconds=n // 3))

    return ContractHarness(
        text_field=("account", "notes"),
        kind="servicenow",
        app=sim.app,
        controls=sim.controls,
        config={
            "kind": "servicenow",
            "base_url": DEMO_BASE_URL,
            "auth": {
                "flow": "client_credentials",
                "client_id": DEMO_CLIENT_ID,
                "client_secret": "${" + DEMO_ENV + "}",
            },
            "external_id_fields": {"account": "u_customer_number"},
            "page_size": page_size,
        },
        env={DEMO_ENV: DEMO_CLIENT_SECRET},
        secret=DEMO_CLIENT_SECRET,
        throttle_fault=throttle_fault(),
        auth_fault=auth_fault(),
        seed_customers=seed_customers,
        page_size=page_size,
        extra={"simulator": sim, "record_kinds": ("account",)},
    )


DEMO_CREDENTIALS = {DEMO_ENV: DEMO_CLIENT_SECRET}
"""The variables the demo config's secret references read (demo credentials, not secrets)."""


def demo_simulator(fast: bool = False) -> ServiceNowSimulator:
    """The demo world's contact center; ``fast``: Batch API items take no simulated time."""
    return ServiceNowSimulator(item_seconds=0.0 if fast else 0.05).seed_demo()
