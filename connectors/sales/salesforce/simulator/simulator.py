"""``SalesforceSimulator``: one simulated org, its ASGI app, and helpers tests drive it with."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.sales.salesforce.simulator.app import ApiState, build_app
from connectors.sales.salesforce.simulator.oauth import OAuthServer, OAuthSettings
from connectors.sales.salesforce.simulator.schema import (
    ACCOUNT,
    CONTACT,
    CONTACT_ROLE,
    OPPORTUNITY,
    USER,
)
from connectors.sales.salesforce.simulator.seed import seed_bulk, seed_demo, seed_equal_timestamps
from connectors.sales.salesforce.simulator.store import Clock, Org, Record, utc_now
from sandbox.controls import SimControls

DEMO_CLIENT_ID = "3MVG9dealbridgeDemoWestTerritoryConsumerKey"
DEMO_CLIENT_SECRET = "demo-west-consumer-secret-not-for-production"  # noqa: S105 - sandbox only
DEMO_REFRESH_TOKEN = "5Aep861demoWestRefreshTokenSandboxOnly000"  # noqa: S105 - sandbox only
DEMO_USERNAME = "integration@west-sales.example"


class SalesforceSimulator:
    """An in-memory Salesforce org behind the documented REST paths."""

    def __init__(  # noqa: PLR0913 - every knob a test may turn
        self,
        *,
        seed: bool = False,
        batch_cap: int | None = None,
        api_limit: int = 100_000,
        latency: float = 0.0,
        jwt_public_key: str | None = None,
        rotate_refresh_tokens: bool = False,
        session_seconds: float = 7200.0,
        instance_url: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.org = Org(clock)
        self.oauth = OAuthServer(
            OAuthSettings(
                client_id=DEMO_CLIENT_ID,
                client_secret=DEMO_CLIENT_SECRET,
                username=DEMO_USERNAME,
                refresh_tokens={DEMO_REFRESH_TOKEN},
                jwt_public_key=jwt_public_key,
                rotate_refresh_tokens=rotate_refresh_tokens,
                session_seconds=session_seconds,
            )
        )
        self.state = ApiState(
            self.org, self.oauth, api_limit, batch_cap=batch_cap, instance_url=instance_url
        )
        self.controls = SimControls(latency=latency)
        self.app = self.controls.wrap(build_app(self.state))
        self._users: dict[str, str] = {}
        self._accounts: dict[str, str] = {}
        self._contacts: dict[tuple[str | None, str], str] = {}
        if seed:
            self.seed_demo()

    # -- budget and sessions ----------------------------------------------------------------
    @property
    def api_used(self) -> int:
        """API requests counted against the daily allocation so far."""
        return self.state.api_used

    def set_api_usage(self, used: int, limit: int | None = None) -> None:
        """Set the daily counter (``used >= limit`` makes every call 403 REQUEST_LIMIT_EXCEEDED)."""
        self.state.api_used = used
        if limit is not None:
            self.state.api_limit = limit

    def set_batch_cap(self, cap: int | None) -> None:
        """Largest batch returned whatever batchSize asks (None: 200..2000 as requested)."""
        self.state.batch_cap = cap

    def expire_sessions(self) -> None:
        """End every session so the next API call answers 401 INVALID_SESSION_ID."""
        self.oauth.expire_all()

    # -- records ----------------------------------------------------------------------------
    def add_user(self, name: str, email: str) -> str:
        """A user (deal owner)."""
        first, _, last = name.rpartition(" ")
        fields = {
            "Name": name,
            "FirstName": first or None,
            "LastName": last,
            "Email": email,
            "Username": email,
            "IsActive": True,
        }
        return self.org.insert(USER, fields)

    def user_for(self, name: str, email: str) -> str:
        """The user with this email, created on first use."""
        if email not in self._users:
            self._users[email] = self.add_user(name, email)
        return self._users[email]

    def add_account(
        self, name: str, *, website: str | None = None, customer_number: str | None = None
    ) -> str:
        """An account (the customer as the territory knows it)."""
        fields = {"Name": name, "Website": website, "Customer_Number__c": customer_number}
        account_id = self.org.insert(ACCOUNT, fields)
        self._accounts.setdefault(name, account_id)
        return account_id

    def find_account(self, name: str) -> str | None:
        """The id of the account called ``name``, if any."""
        return self._accounts.get(name)

    def add_contact(self, account_id: str | None, email: str, name: str = "") -> str:
        """A contact of an account."""
        first, _, last = (name or email.split("@")[0]).rpartition(" ")
        fields = {
            "AccountId": account_id,
            "Email": email,
            "FirstName": first or None,
            "LastName": last,
            "Name": f"{first} {last}".strip(),
        }
        contact_id = self.org.insert(CONTACT, fields)
        self._contacts.setdefault((account_id, email), contact_id)
        return contact_id

    def add_deal(
        self,
        name: str = "New deal",
        *,
        deal_id: str | None = None,
        account_id: str | None = None,
        owner_id: str | None = None,
        contact_emails: Iterable[str] = (),
        contact_names: Mapping[str, str] | None = None,
        modstamp: datetime | None = None,
        **fields: Any,
    ) -> str:
        """An Opportunity (plus contact roles for ``contact_emails``); ``fields`` are API names."""
        values = _deal_defaults(name) | _checked(fields)
        if deal_id:
            values["Id"] = deal_id
        values.update(AccountId=account_id, OwnerId=owner_id)
        values.update(_stage_flags(str(values["StageName"])))
        new_id = self.org.insert(OPPORTUNITY, values, modstamp=modstamp)
        for primary, email in enumerate(contact_emails):
            contact = self._contact_for(account_id, email, (contact_names or {}).get(email, ""))
            self.org.insert(
                CONTACT_ROLE,
                {
                    "OpportunityId": new_id,
                    "ContactId": contact,
                    "Role": "Decision Maker",
                    "IsPrimary": primary == 0,
                },
                modstamp=modstamp,
            )
        return new_id

    def update_deal(self, deal_id: str, *, modstamp: datetime | None = None, **fields: Any) -> None:
        """Change deal fields; SystemModstamp moves to ``modstamp`` (or now)."""
        values = _checked(fields)
        if "StageName" in values:
            values.update(_stage_flags(str(values["StageName"])))
        self.org.update(OPPORTUNITY, deal_id, values, modstamp=modstamp)

    def delete_deal(self, deal_id: str, *, modstamp: datetime | None = None) -> None:
        """Move a deal to the recycle bin: ``IsDeleted = true``, seen only by queryAll."""
        self.org.update(OPPORTUNITY, deal_id, {"IsDeleted": True}, modstamp=modstamp)

    def deal(self, deal_id: str) -> Record:
        """The stored deal (Python values, not JSON forms)."""
        return self.org.table(OPPORTUNITY)[deal_id]

    # -- seeding ----------------------------------------------------------------------------
    def seed_demo(self) -> list[str]:
        """The demo world's West-territory deals (see :func:`seed.seed_demo`)."""
        return seed_demo(self)

    def seed_equal_timestamps(self, count: int, at: datetime | None = None) -> list[str]:
        """``count`` deals sharing one SystemModstamp (default: an hour ago, whole seconds)."""
        moment = at or (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
        return seed_equal_timestamps(self, count, moment)

    def seed_bulk(self, count: int, start: datetime | None = None) -> list[str]:
        """``count`` synthetic deals for benchmarks (three per SystemModstamp second)."""
        moment = start or (datetime.now(UTC) - timedelta(days=30)).replace(microsecond=0)
        return seed_bulk(self, count, moment)

    def _contact_for(self, account_id: str | None, email: str, name: str) -> str:
        known = self._contacts.get((account_id, email))
        return known if known is not None else self.add_contact(account_id, email, name)


def _deal_defaults(name: str) -> Record:
    return {
        "Name": name,
        "StageName": "Closed Won",
        "Amount": 10_000.0,
        "CurrencyIsoCode": "USD",
        "CloseDate": date.today(),  # noqa: DTZ011 - a calendar date, as Salesforce keeps it
        "Probability": 100.0,
        "Has_Special_Terms__c": True,
    }


def _stage_flags(stage: str) -> Record:
    return {"IsClosed": stage.startswith("Closed"), "IsWon": stage == "Closed Won"}


def _checked(fields: Mapping[str, Any]) -> Record:
    unknown = [name for name in fields if name.lower() not in OPPORTUNITY.by_name]
    if unknown:
        raise KeyError(f"Opportunity has no field(s) {', '.join(unknown)}")
    return dict(fields)
