"""``DynamicsSimulator``: one simulated Dataverse environment, its ASGI app, and test helpers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.sales.dynamics.simulator.app import ApiState, build_app
from connectors.sales.dynamics.simulator.entra import EntraSettings, TokenServer
from connectors.sales.dynamics.simulator.limits import LimitSettings, ServiceProtection
from connectors.sales.dynamics.simulator.reads import CollectionReader, TrackingSettings
from connectors.sales.dynamics.simulator.schema import (
    MULTI,
    ColumnDef,
    Option,
    OptionSet,
    TableDef,
)
from connectors.sales.dynamics.simulator.store import Environment, Row
from sandbox.controls import SimControls

ENVIRONMENT_URL = "https://central-sales.crm4.dynamics.test"
"""The environment URL (a reserved TLD: with the simulator's transport nothing leaves)."""
DEMO_TENANT = "7d1c2f3a-5b6e-4c7d-8e9f-0a1b2c3d4e5f"
DEMO_CLIENT_ID = "51f81489-12ee-4a9e-aaae-a2591f45987d"
DEMO_CLIENT_SECRET = "demo-central-client-secret-sandbox-only"  # noqa: S105 - sandbox only


class SimClock:
    """The simulator's time: the real clock plus a shift tests move forward."""

    def __init__(self, start: datetime | None = None) -> None:
        self._shift = timedelta(0) if start is None else start - datetime.now(UTC)

    def now(self) -> datetime:
        """The current simulated time (UTC)."""
        return datetime.now(UTC) + self._shift

    def advance(self, seconds: float) -> None:
        """Move simulated time forward."""
        self._shift += timedelta(seconds=seconds)


class DynamicsSimulator:
    """An in-memory Dataverse environment behind the documented Web API paths."""

    def __init__(
        self,
        *,
        seed: bool = False,
        clock: SimClock | None = None,
        limits: LimitSettings | None = None,
        tracking: TrackingSettings | None = None,
        token_seconds: int = 3599,
        latency: float = 0.0,
        environment_url: str = ENVIRONMENT_URL,
    ) -> None:
        self.clock = clock or SimClock()
        self.env = Environment(clock=self.clock.now)
        self.entra = TokenServer(
            EntraSettings(
                tenant_id=DEMO_TENANT,
                client_id=DEMO_CLIENT_ID,
                client_secret=DEMO_CLIENT_SECRET,
                resource=environment_url,
                token_seconds=token_seconds,
            ),
            clock=self.clock.now,
        )
        self.protection = ServiceProtection(
            limits or LimitSettings(), lambda: self.clock.now().timestamp()
        )
        self.tracking = tracking or TrackingSettings()
        self.reader = CollectionReader(self.env, self.tracking)
        self.controls = SimControls(latency=latency)
        self.app = self.controls.wrap(
            build_app(ApiState(self.env, self.entra, self.protection, self.reader))
        )
        self.environment_url = environment_url
        if seed:
            self.seed_demo()

    # -- rows -------------------------------------------------------------------------------
    def add_account(self, name: str, **columns: Any) -> str:
        """An account; ``columns`` by logical name (``websiteurl``, ``new_customernumber``...)."""
        return self.env.insert("account", {"name": name, "statecode": 0, **columns})

    def add_contact(self, email: str, name: str = "", **columns: Any) -> str:
        """A contact with an email address."""
        first, _, last = (name or email.split("@")[0]).rpartition(" ")
        values = {
            "emailaddress1": email,
            "firstname": first or None,
            "lastname": last,
            "fullname": f"{first} {last}".strip(),
            "statecode": 0,
        }
        return self.env.insert("contact", values | columns)

    def add_deal(
        self, name: str = "New deal", *, modifiedon: datetime | None = None, **columns: Any
    ) -> str:
        """An opportunity; lookups by logical name (``parentaccountid=<account id>``)."""
        values = {"name": name, "statecode": 1, "statuscode": 3} | columns
        return self.env.insert(
            "opportunity", _stored(self.table("opportunity"), values), modifiedon=modifiedon
        )

    def update_deal(
        self, deal_id: str, *, modifiedon: datetime | None = None, **columns: Any
    ) -> None:
        """Change columns of a deal; its version and ``modifiedon`` move."""
        values = _stored(self.table("opportunity"), columns)
        self.env.update("opportunity", deal_id, values, modifiedon=modifiedon)

    def delete_deal(self, deal_id: str) -> None:
        """Delete a deal (a delta lists it as ``$deletedEntity``)."""
        self.env.delete("opportunity", deal_id)

    def delete_account(self, account_id: str, *, dangling: bool = False) -> None:
        """Delete an account. Its deals lose the link (a change each) unless ``dangling``:
        then they keep naming it, as a read racing the deletion sees them."""
        if not dangling:
            for row in list(self.env.rows_of("opportunity").values()):
                if row.values.get("parentaccountid") == account_id.lower():
                    self.env.update(
                        "opportunity", row.values["opportunityid"], {"parentaccountid": None}
                    )
        self.env.delete("account", account_id)

    def deal(self, deal_id: str) -> Row:
        """The stored deal."""
        row = self.env.get("opportunity", deal_id)
        if row is None:
            raise KeyError(deal_id)
        return row

    def deal_ids(self) -> list[str]:
        """Every live deal id."""
        return list(self.env.rows_of("opportunity"))

    # -- schema -----------------------------------------------------------------------------
    def table(self, logical: str) -> TableDef:
        """A table definition (mutable: tests rename columns and edit choices)."""
        return self.env.table(logical)

    def rename_column(self, logical: str, old: str, new: str) -> None:
        """An admin renamed a custom column; stored values move with it."""
        self.table(logical).rename(old, new)
        for row in self.env.rows_of(logical).values():
            row.values[new] = row.values.pop(old, None)

    def set_option(self, logical: str, column: str, value: int, label: str | None) -> None:
        """Add or relabel one option of a choice column (``label`` None: no label at all)."""
        table = self.table(logical)
        current = table.columns[column]
        assert current.options is not None, f"{column} is not a choice column"
        options = tuple(o for o in current.options.options if o.value != value)
        options = tuple(sorted((*options, Option(value, label)), key=lambda o: o.value))
        table.columns[column] = replace(
            current, options=OptionSet(current.options.name, options, current.options.is_global)
        )

    def set_change_tracking(self, enabled: bool) -> None:
        """Turn Track changes on or off for the Opportunity table."""
        self.table("opportunity").change_tracking = enabled

    # -- seeding ----------------------------------------------------------------------------
    def seed_demo(self) -> list[str]:
        """The Central territory's deals over the demo world's customers."""
        from connectors.sales.dynamics.simulator.seed import seed_demo

        return seed_demo(self)

    def seed_equal_timestamps(self, count: int, at: datetime | None = None) -> list[str]:
        """``count`` deals sharing one ``modifiedon`` (default: an hour ago, whole seconds)."""
        from connectors.sales.dynamics.simulator.seed import seed_equal_timestamps

        moment = at or (self.clock.now() - timedelta(hours=1)).replace(microsecond=0)
        return seed_equal_timestamps(self, count, moment)

    def seed_bulk(self, count: int, start: datetime | None = None) -> list[str]:
        """``count`` synthetic deals over 200 accounts (three per ``modifiedon`` second)."""
        from connectors.sales.dynamics.simulator.seed import seed_bulk

        moment = start or (self.clock.now() - timedelta(days=30)).replace(microsecond=0)
        return seed_bulk(self, count, moment)


def _stored(table: TableDef, values: dict[str, Any]) -> dict[str, Any]:
    """Values as the store keeps them: ids lower-case, multi-select tuples, plain dates."""
    stored: dict[str, Any] = {}
    for name, value in values.items():
        column = table.columns.get(name)
        if column is None:
            raise KeyError(f"{table.logical} has no column {name}")
        stored[name] = _stored_value(column, value)
    return stored


def _stored_value(column: ColumnDef, value: Any) -> Any:
    if column.target is not None and isinstance(value, str):
        return value.lower()
    if column.type_name == MULTI and value is not None:
        return tuple(value)
    if column.date_only and isinstance(value, datetime):
        return value.date()
    if isinstance(value, date) and not isinstance(value, datetime) and not column.date_only:
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value
