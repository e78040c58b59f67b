"""ZohoSimulator: one simulated Zoho CRM org, its data centre, limits, tokens and test helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request

from connectors.sales.zoho.datacentres import DATA_CENTRES
from connectors.sales.zoho.simulator import seed
from connectors.sales.zoho.simulator.limits import EDITION_CONCURRENCY, EDITION_CREDITS, Limits
from connectors.sales.zoho.simulator.listing import ApiError, PageTokens
from connectors.sales.zoho.simulator.oauth import AccountsServer, Grant
from connectors.sales.zoho.simulator.org import Org
from sandbox.controls import ASGIApp, SimControls

# Demo credentials: they open nothing but this simulator.
DEMO_CLIENT_ID = "1000.SIMZOHOCLIENT7Q2R8KX3LATAM"
DEMO_CLIENT_SECRET = "5f1c0de3a9b24e7d8c6b1a0f9e8d7c6b5a4f3e2d1c"  # noqa: S105
DEMO_REFRESH_TOKEN = "1000.7b3e9d2c4a6f8e1d0c5b.a9f8e7d6c5b4a3f2e1d0"  # noqa: S105
IST = timezone(timedelta(hours=5, minutes=30))


class ZohoSimulator:
    """In-memory Zoho CRM org behind a Starlette app; its limits are knobs for tests."""

    def __init__(  # noqa: PLR0913 - each knob is a documented Zoho behaviour
        self,
        *,
        data_centre: str = "eu",
        offset: timezone = IST,
        edition: str = "standard",
        daily_credits: int | None = None,
        concurrency: int | None = None,
        seed_demo: bool = True,
        clock: Callable[[], datetime] | None = None,
        api_domain: str | None = None,
        token_ttl: int = 3600,
        response_delay: float = 0.0,
        latency: float = 0.0,
    ) -> None:
        from connectors.sales.zoho.simulator.app import build_app

        self.clock = clock or (lambda: datetime.now(UTC))
        self.org = Org(data_centre=data_centre, offset=offset, clock=self.clock)
        self.limits = Limits(
            clock=self.clock,
            credits=daily_credits or EDITION_CREDITS[edition],
            concurrency=concurrency or EDITION_CONCURRENCY[edition],
        )
        self.accounts = AccountsServer(
            grant=Grant(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REFRESH_TOKEN, data_centre),
            clock=self.clock,
            api_domain=api_domain or DATA_CENTRES[data_centre].api_domain,
            ttl=token_ttl,
        )
        self.page_tokens = PageTokens()
        self.response_delay = response_delay
        self.controls = SimControls(latency=latency)
        self.app: ASGIApp = self.controls.wrap(build_app(self))
        self.owner_id = self.org.add_user("Lucia", "Fernandes", "lucia.fernandes@seller.example")
        if seed_demo:
            seed.demo(self)

    # --- auth ------------------------------------------------------------------------------

    def authorised(self, request: Request) -> bool:
        """The request carries a live ``Zoho-oauthtoken`` (remembered for the scope check)."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = self.accounts.check(value.strip()) if scheme == "Zoho-oauthtoken" else None
        request.state.scopes = token.scopes if token else ()
        return token is not None

    def require_scope(self, request: Request, needed: str) -> None:
        """401 OAUTH_SCOPE_MISMATCH unless the token's scopes cover ``needed`` (§2.6)."""
        scopes = {s.lower() for s in getattr(request.state, "scopes", ())}
        family = needed.lower().rsplit(".", 2)[0]
        if (
            needed.lower() in scopes
            or f"{family}.all" in scopes
            or (needed.lower().startswith("zohocrm.modules.") and "zohocrm.modules.all" in scopes)
        ):
            return
        raise ApiError(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")

    def expire_tokens(self) -> None:
        """Make every access token issued so far expired (the refresh token stays good)."""
        self.accounts.expire_all()

    def set_scopes(self, *scopes: str) -> None:
        """The scopes the refresh token was generated with (applies to new access tokens)."""
        self.accounts.grant.scopes = tuple(scopes)

    # --- records ---------------------------------------------------------------------------

    def add_account(
        self, name: str, website: str | None = None, customer_number: str | None = None
    ) -> str:
        """An account (the deal's customer company)."""
        values = {"Account_Name": name, "Website": website, "Customer_Number": customer_number}
        return self.org.put("Accounts", {**values, "Owner": self.owner_id})

    def add_contact(self, first: str, last: str, email: str, account: str | None = None) -> str:
        """A contact person, optionally of an account."""
        values = {
            "First_Name": first,
            "Last_Name": last,
            "Full_Name": f"{first} {last}".strip(),
            "Email": email,
            "Account_Name": account,
            "Owner": self.owner_id,
        }
        return self.org.put("Contacts", values)

    def add_deal(
        self,
        values: dict[str, Any],
        *,
        modified: datetime | None = None,
        account: str | None = None,
        contact: str | None = None,
        deal_id: str | None = None,
    ) -> str:
        """A deal with its lookups; Modified_Time ``modified`` (default now)."""
        stored = {
            "Owner": self.owner_id,
            **values,
            "Account_Name": account,
            "Contact_Name": contact,
        }
        return self.org.put("Deals", stored, modified=modified, record_id=deal_id)

    def update_deal(self, deal_id: str, *, modified: datetime | None = None, **values: Any) -> None:
        """Change fields and move Modified_Time to ``modified`` (default now)."""
        self.org.update("Deals", deal_id, values, modified=modified)

    def delete_deal(
        self, deal_id: str, *, at: datetime | None = None, permanent: bool = False
    ) -> None:
        """Delete a deal: it leaves the reads and appears in ``/Deals/deleted``."""
        self.org.delete("Deals", deal_id, at=at, permanent=permanent, by=self.owner_id)

    def delete_account(self, account_id: str) -> None:
        """Delete an account; deals keep a dangling lookup to it (§7.2, as modelled)."""
        self.org.delete("Accounts", account_id, by=self.owner_id)

    def rename_field(self, old: str, new: str, module: str = "Deals") -> None:
        """An admin changes a custom field's API name."""
        self.org.rename_field(module, old, new)

    def deal(self, deal_id: str) -> dict[str, Any]:
        """A deal's stored values (for assertions)."""
        record = self.org.get("Deals", deal_id)
        assert record is not None, f"no live deal {deal_id}"
        return dict(record.values)

    def deal_ids(self) -> list[str]:
        """Every live deal id."""
        return [r.id for r in self.org.live("Deals")]

    # --- seeding ---------------------------------------------------------------------------

    def seed_equal_timestamps(self, n: int, at: datetime | None = None) -> list[str]:
        """``n`` deals sharing one Modified_Time (cursor tie-break checks)."""
        when = at or (self.org.now() - timedelta(hours=1))
        account = self.add_account("Tie Breakers Ltd", "https://ties.example", "CUST-TIE")
        return [
            self.add_deal(seed.bulk_values(i), modified=when, account=account) for i in range(n)
        ]

    def seed_bulk(
        self,
        n: int,
        *,
        start: datetime | None = None,
        step_seconds: float = 1.0,
        accounts: int = 100,
    ) -> list[str]:
        """``n`` deals modified ``step_seconds`` apart over ``accounts`` accounts (benchmarks)."""
        first = start or self.org.now() - timedelta(seconds=step_seconds * (n + 1))
        owners = [
            self.add_account(f"Bulk {i}", f"https://bulk{i}.example", f"BULK-{i}")
            for i in range(accounts)
        ]
        return [
            self.add_deal(
                seed.bulk_values(i),
                modified=first + timedelta(seconds=step_seconds * i),
                account=owners[i % accounts],
            )
            for i in range(n)
        ]

    def touch(self, deal_ids: Iterable[str], at: datetime | None = None) -> None:
        """Modify deals without changing their values (a workflow touching them)."""
        for deal_id in deal_ids:
            self.update_deal(deal_id, modified=at)
