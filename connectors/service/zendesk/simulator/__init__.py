"""A Zendesk Support simulator: organizations, users, field definitions, exports, bulk jobs.

Faithful to the endpoints the Zendesk target uses (see ``connectors.service.zendesk``):
incremental exports (organizations time-based with ``end_time``/``end_of_stream``, pages
repeating their boundary second; users cursor-based with ``after_cursor``) that leave out the
last ``export_delay`` seconds (60) and refuse a younger ``start_time`` (422), ``show_many``
(100 ids or external ids), user and organization searches answered from a search index that
lags the records by ``search_lag`` seconds, ``update_many`` queuing jobs that finish after
``job_delay`` seconds with per-record results, ``job_statuses`` (404 once expired: an hour
after finishing, or when more than 100 newer jobs exist), single ``PUT`` with ``RecordInvalid``
validation, field definitions, Basic auth ``{email}/token:{api_token}``, the per-minute
account budget with its headers, the incremental export budget (10/min), 5 updates a minute
per record, 30 queued jobs (``TooManyJobs``), and a switch that makes bulk updates answer
403. Faults and latency come from :class:`SimControls`. Every delay defaults to the vendor's
documented value; tests that cannot wait pass a ``clock`` they move, or a delay of 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from connectors.service.zendesk.simulator.app import UNAUTHENTICATED, Settings, build_app
from connectors.service.zendesk.simulator.jobs import JOB_TTL, JobQueue
from connectors.service.zendesk.simulator.seed import seed_bulk, seed_demo
from connectors.service.zendesk.simulator.store import (
    ORGANIZATION,
    USER,
    Clock,
    ZendeskStore,
    utc_now,
)
from connectors.service.zendesk.simulator.tickets import TicketBook
from sandbox.controls import ASGIApp, Fault, SimControls, SimTime, WindowLimiter
from sandbox.harness import ContractHarness

DEMO_API_TOKEN = "zd-demo-token-Hq4Vr8Tn2Lw6"  # noqa: S105 - published demo credential
"""The API token the demo simulator accepts (a demo credential, not a secret)."""
DEMO_EMAIL = "dealbridge@contact-center.example"
DEMO_BASE_URL = "https://dealbridge-demo.zendesk.com"
DEMO_ENV = "DEALBRIDGE_ZENDESK_TOKEN"
SEARCH_LAG = 120.0
"""Seconds before a change is searchable: "it can take up to a few minutes for new tickets,
users, and other resources to be indexed for search" [doc: Search API]; two minutes is this
simulator's reading of "a few"."""

__all__ = [
    "DEMO_API_TOKEN",
    "DEMO_BASE_URL",
    "DEMO_EMAIL",
    "DEMO_ENV",
    "ZendeskSimulator",
    "contract_harness",
    "demo_app",
]


class ZendeskSimulator:
    """One simulated Zendesk account: ``.app`` (wrapped by ``.controls``) plus test helpers."""

    def __init__(  # noqa: PLR0913 - every budget is a knob tests turn
        self,
        *,
        api_token: str = DEMO_API_TOKEN,
        email: str = DEMO_EMAIL,
        requests_per_minute: int = 700,
        incremental_per_minute: int = 10,
        single_updates_per_minute: int = 5,
        job_delay: float = 0.05,
        job_ttl: float = JOB_TTL,
        export_delay: float = 60.0,
        search_lag: float = SEARCH_LAG,
        latency: float = 0.0,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.time = SimTime(clock, monotonic)
        monotonic = self.time.monotonic
        self.store = ZendeskStore(self.time.wall, DEMO_BASE_URL, search_lag=search_lag)
        self.jobs = JobQueue(self.store, monotonic, job_delay, ttl=job_ttl)
        self.controls = SimControls(latency=latency)
        agent = self.store.add_user("dealbridge", email, role="admin")
        self.settings = Settings(
            email=email,
            api_token=api_token,
            account=WindowLimiter(requests_per_minute, 60.0, monotonic),
            incremental=WindowLimiter(incremental_per_minute, 60.0, monotonic),
            single_record=WindowLimiter(single_updates_per_minute, 60.0, monotonic),
            agent_id=agent["id"],
            export_delay=export_delay,
        )
        self.tickets = TicketBook(self.store.clock)
        app = build_app(self.store, self.jobs, self.settings, self.tickets)
        self.app: ASGIApp = self.controls.wrap(app)
        self.customers: dict[str, tuple[int, int]] = {}

    def seed_demo(self) -> ZendeskSimulator:
        """Add the demo world's customers; ``self.customers`` maps keys to (org, user) ids."""
        self.customers = seed_demo(self.store, self.store.clock())
        return self

    def seed_bulk(self, count: int) -> ZendeskSimulator:
        """Add ``count`` synthetic organizations (benchmarks)."""
        start = len(self.store.records[ORGANIZATION])
        seed_bulk(self.store, count, self.store.clock(), start=start)
        return self

    def add_organization(self, name: str, **fields: Any) -> dict[str, Any]:
        """A new organization; ``fields`` may set domain_names, external_id, notes..."""
        return self.store.add_organization(name, **fields)

    def add_user(self, name: str, email: str | None, **fields: Any) -> dict[str, Any]:
        """A new end-user; ``fields`` may set organization_id, role, user_fields..."""
        return self.store.add_user(name, email, **fields)

    def agent_edit(self, kind: str, record_id: int, **fields: Any) -> dict[str, Any]:
        """What an agent saving the profile in Zendesk does (``organization_fields={..}``
        merges key by key); bumps ``updated_at``, no API validation."""
        return self.store.apply(kind, record_id, fields)

    def named(self, name: str) -> tuple[str, str]:
        """The record an agent finds by ``name`` (organizations first): (kind, id)."""
        for kind, records in self.store.records.items():
            for record_id, record in records.items():
                if record.get("name") == name:
                    return kind, str(record_id)
        raise KeyError(f"no record named {name}")

    def remove(self, kind: str, record_id: str) -> None:
        """An agent deletes the record (``kind`` and id as the connector names them)."""
        self.delete(kind, int(record_id))

    def record(self, kind: str, record_id: int) -> dict[str, Any]:
        """The stored record, deleted or not (KeyError when absent)."""
        return self.store.records[kind][record_id]

    def delete(self, kind: str, record_id: int) -> None:
        """Delete an organization or deactivate a user (both still appear in exports)."""
        self.store.delete(kind, record_id)

    def set_updated_at(self, kind: str, record_id: int, moment: datetime) -> None:
        """Set a record's ``updated_at`` (ties and ordering in tests)."""
        self.store.touch(kind, record_id, moment)

    def pass_time(self, seconds: float) -> None:
        """Let time pass for this account: exports include older changes, searches catch up,
        jobs finish and expire, budgets refill."""
        self.time.pass_time(seconds)

    def forbid_bulk_updates(self, *kinds: str) -> None:
        """Make ``update_many`` answer 403, as accounts without bulk updates enabled do."""
        self.settings.bulk_forbidden.update(kinds or (USER,))

    def expire_jobs(self) -> None:
        """Forget every job status (Zendesk keeps them about an hour)."""
        for job_id in list(self.jobs.jobs):
            self.jobs.expire(job_id)

    def requests(self, method: str | None = None, path_contains: str = "") -> int:
        """How many requests reached the simulator."""
        return self.controls.count(method, path_contains)


def demo_app() -> ASGIApp:
    """The seeded demo simulator's app (``dealbridge sandbox serve`` and the demo)."""
    return ZendeskSimulator().seed_demo().app


def throttle_fault() -> Fault:
    """How Zendesk says "slow down": 429 with Retry-After seconds and the budget headers."""
    headers = {"Retry-After": "2", "X-Rate-Limit": "700", "X-Rate-Limit-Remaining": "0"}
    body = {
        "error": "APIRateLimitExceeded",
        "description": "Number of allowed API requests per minute exceeded",
    }
    return Fault(status=429, body=body, path_contains="/api/v2/", headers=headers)


def auth_fault() -> Fault:
    """How Zendesk refuses a wrong email or token (served on every call)."""
    return Fault(status=401, body=UNAUTHENTICATED, path_contains="/api/v2/", times=10**9)


def contract_harness() -> ContractHarness:
    """A seeded simulator and a config with small pages, for the shared contract suite."""
    sim = ZendeskSimulator(incremental_per_minute=10_000, job_delay=0.0).seed_demo()
    page_size = 5

    def seed_customers(count: int) -> None:
        base = sim.store.clock() - timedelta(minutes=30)
        for n in range(count):
            when = base + timedelta(seconds=n)
            if n % 2 == 0:
                name, domain = f"Contract Co {n}", f"contract{n}.example"
                sim.add_organization(name, domain_names=[domain], updated_at=when)
            else:
                sim.add_user(f"Contract Person {n}", f"person{n}@contract.example", updated_at=when)

    return ContractHarness(
        text_field=("organization", "notes"),
        kind="zendesk",
        app=sim.app,
        controls=sim.controls,
        config={
            "kind": "zendesk",
            "base_url": DEMO_BASE_URL,
            "email": DEMO_EMAIL,
            "api_token": "${" + DEMO_ENV + "}",
            "per_page": page_size,
            "rate_per_second": 1000,
            "incremental_per_minute": 10_000,
        },
        env={DEMO_ENV: DEMO_API_TOKEN},
        secret=DEMO_API_TOKEN,
        throttle_fault=throttle_fault(),
        auth_fault=auth_fault(),
        seed_customers=seed_customers,
        page_size=page_size,
        extra={"simulator": sim, "record_kinds": (ORGANIZATION, USER)},
    )


DEMO_CREDENTIALS = {DEMO_ENV: DEMO_API_TOKEN}
"""The variables the demo config's secret references read (demo credentials, not secrets)."""


def demo_simulator(fast: bool = False) -> ZendeskSimulator:
    """The demo world's contact center; ``fast`` lifts the export budget and job delay."""
    limits: dict[str, Any] = {"incremental_per_minute": 6_000, "job_delay": 0.0} if fast else {}
    return ZendeskSimulator(**limits).seed_demo()
