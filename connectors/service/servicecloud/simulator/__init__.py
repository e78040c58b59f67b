"""A Salesforce Service Cloud org, simulated from FACTS.md: the contact center's own org.

``ServiceCloudSimulator`` holds the schema (Account, Contact, Case, CaseComment; Person Accounts
as a switch), the records, the sessions, the rolling 24-hour API allocation and the write
policy tests turn (locked rows, validation rules); ``.app`` is the ASGI app behind
:class:`sandbox.controls.SimControls` (latency, faults, request log). Modelled behaviours and
their FACTS.md sections:

* OAuth: client credentials, JWT bearer and refresh token grants; sessions expire after
  ``session_seconds`` and then every call answers 401 ``INVALID_SESSION_ID`` (1.1-1.4);
* describe with ``length`` in characters, ``restrictedPicklist``, ``extraTypeInfo`` (3.1);
  Person Accounts fields only when enabled (2.2);
* SOQL ``query``/``queryAll``/queryMore in batches of 200..2000 (``batch_cap`` lower), typed
  filters, ``INVALID_FIELD`` for an unknown column, string literal and statement caps (4.1-4.3);
  URI plus headers over 16,384 bytes answer 414;
* sObject Collections update and upsert: 200 records, 10 type chunks, ``allOrNone``, SaveResults
  in order with ``statusCode`` errors; text areas enforced in UTF-8 bytes; restricted picklists
  checked, unrestricted ones not (3.2, 3.3, 5.1-5.5); a single-record create (5.7);
* ``Sforce-Limit-Info`` on every answer; 403 ``REQUEST_LIMIT_EXCEEDED`` once the rolling
  24-hour allocation is spent, with no Retry-After (7.1-7.3);
* every save moves ``SystemModstamp`` (milliseconds, injectable clock); updating a person
  account moves its person contact's stamps too (2.2, 6.1);
* Case and CaseComment (``CommentBody`` 4,000 bytes, ``IsPublished``) for alerts (8.1, 8.2).

Not modelled: the concurrent long-request limit (25 requests of 20 s or more) other than as an
injected fault, field history, Change Data Capture, the Bulk API.

``demo_app()`` serves the demo world; ``contract_harness()`` hands the shared contract suite a
seeded org whose query batches hold five records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.sales.salesforce.simulator.oauth import OAuthServer, OAuthSettings
from connectors.service.servicecloud.simulator.app import Allocation, ApiState, build_app
from connectors.service.servicecloud.simulator.schema import FieldSpec, Schema
from connectors.service.servicecloud.simulator.seed import seed_bulk, seed_demo
from connectors.service.servicecloud.simulator.store import Clock, OrgStore, Record, utc_now
from connectors.service.servicecloud.simulator.writes import RecordFailure, ValidationRule
from sandbox.controls import ASGIApp, Fault, SimControls, SimTime
from sandbox.harness import ContractHarness

DEMO_BASE_URL = "https://contact-center.my.salesforce.test"
"""The org's My Domain URL, on a reserved TLD: with the simulator's transport nothing leaves
the process."""
DEMO_CLIENT_ID = "3MVG9dealbridgeDemoServiceCloudConsumerKey"
DEMO_CLIENT_SECRET = "demo-service-cloud-secret-not-for-production"  # noqa: S105 - sandbox only
DEMO_USERNAME = "dealbridge@contact-center.example"
DEMO_REFRESH_TOKEN = "5Aep861demoServiceCloudRefreshToken0000"  # noqa: S105 - sandbox only
DEMO_ENV = {"SC_SANDBOX_CLIENT_SECRET": DEMO_CLIENT_SECRET}
"""Environment the :func:`connector_config` secret references resolve against."""
HARNESS_BATCH = 5

THROTTLE_BODY = [
    {"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
]
"""The short throttle (the concurrent long-request limit); the spent 24-hour allocation says
"TotalRequests" and stops the job instead."""
EXPIRED_BODY = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]

__all__ = [
    "DEMO_BASE_URL",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_ENV",
    "ServiceCloudSimulator",
    "connector_config",
    "contract_harness",
    "demo_app",
]


class ServiceCloudSimulator:
    """One simulated Service Cloud org: ``.app`` plus the helpers tests drive it with."""

    def __init__(  # noqa: PLR0913 - every knob a test may turn
        self,
        *,
        person_accounts: bool = True,
        api_limit: int = 100_000,
        batch_cap: int | None = None,
        session_seconds: float = 7200.0,
        jwt_public_key: str | None = None,
        latency: float = 0.0,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.time = SimTime(clock, monotonic)
        self.schema = Schema(person_accounts=person_accounts)
        self.store = OrgStore(self.schema, self.now)
        self.oauth = OAuthServer(
            OAuthSettings(
                client_id=DEMO_CLIENT_ID,
                client_secret=DEMO_CLIENT_SECRET,
                username=DEMO_USERNAME,
                refresh_tokens={DEMO_REFRESH_TOKEN},
                jwt_public_key=jwt_public_key,
                session_seconds=session_seconds,
            ),
            clock=lambda: time.time() + self.time.shift,
        )
        self.state = ApiState(
            store=self.store,
            oauth=self.oauth,
            allocation=Allocation(api_limit, self.time.monotonic),
            monotonic=self.time.monotonic,
            batch_cap=batch_cap,
        )
        self.controls = SimControls(latency=latency)
        self.app: ASGIApp = self.controls.wrap(build_app(self.state))
        self.customers: dict[str, tuple[str, str]] = {}

    # -- seeding ----------------------------------------------------------------------------
    def seed_demo(self) -> ServiceCloudSimulator:
        """The demo world's customers (``self.customers``: key -> (account id, contact id))."""
        self.customers = seed_demo(self.store, self.now())
        return self

    def seed_bulk(self, count: int) -> list[str]:
        """``count`` synthetic business accounts (benchmarks); their ids."""
        start = len(self.store.table("Account"))
        return seed_bulk(self.store, count, self.now(), start=start)

    def add_account(self, name: str, *, stamp: datetime | None = None, **fields: Any) -> str:
        """A business account; ``fields`` are API names (``Customer_Number__c=...``)."""
        values: Record = {"Name": name, "OwnerId": "005Dx0000000001AAA", **fields}
        if self.schema.person_accounts:
            values.setdefault("IsPersonAccount", False)
        return str(self.store.insert("Account", self._known("Account", values), stamp=stamp)["Id"])

    def add_person_account(
        self, first: str, last: str, email: str, *, stamp: datetime | None = None, **fields: Any
    ) -> tuple[str, str]:
        """A person account and its person contact: (account id, contact id)."""
        values = {"FirstName": first, "LastName": last, "PersonEmail": email, **fields}
        account, contact = self.store.insert_person_account(
            self._known("Account", values), stamp=stamp
        )
        return str(account["Id"]), str(contact["Id"])

    def add_contact(
        self, account_id: str | None, email: str, name: str = "", *, stamp: datetime | None = None
    ) -> str:
        """A contact of an account (a business contact, not a person contact)."""
        first, _, last = (name or email.split("@")[0]).rpartition(" ")
        values: Record = {
            "AccountId": account_id,
            "FirstName": first or None,
            "LastName": last,
            "Name": f"{first} {last}".strip(),
            "Email": email,
        }
        if self.schema.person_accounts:
            values["IsPersonAccount"] = False
        return str(self.store.insert("Contact", values, stamp=stamp)["Id"])

    # -- what people do in the org ------------------------------------------------------------
    def agent_edit(
        self, sobject: str, record_id: str, *, stamp: datetime | None = None, **fields: Any
    ) -> Record:
        """An agent saving the record in the Service Console: stamps move, no API checks."""
        return self.store.update(sobject, record_id, self._known(sobject, fields), stamp=stamp)

    def delete(self, sobject: str, record_id: str) -> None:
        """Move a record to the recycle bin."""
        self.store.delete(sobject, record_id)

    def purge(self, sobject: str, record_id: str) -> None:
        """Empty a record out of the recycle bin."""
        self.store.purge(sobject, record_id)

    def named(self, name: str) -> tuple[str, str]:
        """The record an agent finds by ``name`` (accounts first): (kind, Id)."""
        for kind, sobject in (("account", "Account"), ("contact", "Contact")):
            for record in self.store.live(sobject):
                if record.get("Name") == name:
                    return kind, str(record["Id"])
        raise KeyError(f"no record named {name}")

    def remove(self, kind: str, record_id: str) -> None:
        """An agent deletes the record (to the recycle bin, as the UI does)."""
        self.delete("Account" if kind == "account" else "Contact", record_id)

    def record(self, sobject: str, record_id: str) -> Record:
        """The stored record (Python values; KeyError when absent)."""
        return self.store.table(sobject)[record_id]

    def records(self, sobject: str) -> list[Record]:
        """Every live record of one object."""
        return list(self.store.live(sobject))

    def add_field(self, sobject: str, spec: FieldSpec) -> None:
        """An admin creates or changes a field."""
        self.schema.add_field(sobject, spec)

    def drop_field(self, sobject: str, name: str) -> None:
        """An admin deletes a field."""
        self.schema.drop_field(sobject, name)

    def restrict_picklist(self, sobject: str, name: str, *, restricted: bool = True) -> None:
        """Switch "restrict picklist to the values defined in the value set"."""
        self.schema.restrict(sobject, name, restricted=restricted)

    def lock(self, record_id: str, times: int = 1) -> None:
        """The next ``times`` writes of this record answer ``UNABLE_TO_LOCK_ROW``."""
        self.state.policy.locked[record_id] = times

    def add_validation_rule(
        self, sobject: str, check: Callable[[Record], bool], message: str, field: str
    ) -> None:
        """A validation rule: a record for which ``check`` is true fails to save."""

        def rule(record: Record) -> RecordFailure | None:
            if not check(record):
                return None
            return RecordFailure("FIELD_CUSTOM_VALIDATION_EXCEPTION", message, (field,))

        rules: list[ValidationRule] = self.state.policy.rules.setdefault(sobject.lower(), [])
        rules.append(rule)

    # -- sessions, budget, time ---------------------------------------------------------------
    @property
    def api_used(self) -> int:
        """Calls counted against the rolling 24-hour allocation."""
        return self.state.allocation.used

    def set_api_usage(self, used: int, limit: int | None = None) -> None:
        """Count ``used`` calls made just now (``used >= limit``: every call is refused)."""
        allocation = self.state.allocation
        allocation.calls.clear()
        allocation.count(used)
        if limit is not None:
            allocation.limit = limit

    def expire_sessions(self) -> None:
        """End every session: the next API call answers 401 INVALID_SESSION_ID."""
        self.oauth.expire_all()

    def pass_time(self, seconds: float) -> None:
        """Let time pass in the org: sessions, query locators and the allocation age."""
        self.time.pass_time(seconds)

    def requests(self, method: str | None = None, path_contains: str = "") -> int:
        """How many requests reached the simulator."""
        return self.controls.count(method, path_contains)

    def now(self) -> datetime:
        """The org's present, in whole milliseconds as Salesforce stores it."""
        moment = self.time.wall().astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def _known(self, sobject: str, fields: Record) -> Record:
        """``fields`` under their canonical API names; a name the object lacks is a KeyError."""
        spec = self.store.spec(sobject)
        known: Record = {}
        for name, value in fields.items():
            column = spec.get(name)
            if column is None:
                raise KeyError(f"{sobject} has no field {name}")
            known[column.name] = value
        return known


def connector_config(base_url: str = DEMO_BASE_URL, **overrides: Any) -> dict[str, Any]:
    """Raw ``kind: servicecloud`` config for the demo org (client credentials by reference)."""
    config: dict[str, Any] = {
        "kind": "servicecloud",
        "base_url": base_url,
        "auth": {
            "flow": "client_credentials",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": "${SC_SANDBOX_CLIENT_SECRET}",
        },
        "account_external_id_field": "Customer_Number__c",
        "note_field": "Deal_Terms__c",
        "case_key_field": "Dealbridge_Key__c",
    }
    return config | overrides


def demo_app() -> ASGIApp:
    """The seeded demo org as an ASGI app (``dealbridge sandbox serve``)."""
    return ServiceCloudSimulator().seed_demo().app


def contract_harness() -> ContractHarness:
    """A seeded org for the contract suite: 5-record query batches, Salesforce's throttle and
    expired-session answers as faults, and a customer seeder."""
    sim = ServiceCloudSimulator(batch_cap=HARNESS_BATCH).seed_demo()
    api_calls = "/services/data/v"

    def seed_customers(count: int) -> None:
        base = sim.now() - timedelta(minutes=30)
        for n in range(count):
            when = base + timedelta(seconds=n // 2)  # pairs share a stamp: keyset ties
            sim.add_account(
                f"Contract Co {n}",
                Website=f"https://contract{n}.example",
                Customer_Number__c=f"CONTRACT-{n}",
                stamp=when,
            )

    return ContractHarness(
        text_field=("account", "Description"),
        kind="servicecloud",
        app=sim.app,
        controls=sim.controls,
        config=connector_config(throttle_retry_after=0.01),
        env=dict(DEMO_ENV),
        secret=DEMO_CLIENT_SECRET,
        throttle_fault=Fault(
            status=403,
            body=THROTTLE_BODY,
            path_contains=api_calls,
            headers={"Sforce-Limit-Info": "api-usage=18000/100000"},
        ),
        auth_fault=Fault(status=401, body=EXPIRED_BODY, path_contains=api_calls, times=1_000_000),
        seed_customers=seed_customers,
        page_size=HARNESS_BATCH,
        extra={"simulator": sim, "record_kinds": ("account",)},
    )


DEMO_CREDENTIALS = {"DEALBRIDGE_SERVICECLOUD_SECRET": DEMO_CLIENT_SECRET}
"""The variables the demo config's secret references read (demo credentials, not secrets)."""


def demo_simulator(fast: bool = False) -> ServiceCloudSimulator:
    """The demo world's contact center (``fast`` changes nothing here)."""
    del fast
    return ServiceCloudSimulator().seed_demo()
