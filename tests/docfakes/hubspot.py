"""A second HubSpot fake, written from HubSpot's documentation only (never from sandbox/).

``HubSpotAccount`` holds one account's deals, companies, contacts, owners, associations, the
search index (which lags writes), tokens and limits; :mod:`tests.docfakes.hubspot_http` serves
it over HTTP. Property definitions are in :mod:`tests.docfakes.hubspot_catalog`, search in
:mod:`tests.docfakes.hubspot_search`, limits in :mod:`tests.docfakes.hubspot_limits`.

Behaviour modelled, with sources (sales-apis.md = /work/shared/vendor-apis/sales-apis.md;
fixtures = /work/main/tests/fixtures/hubspot):

* Every property value is a string (or null); deals carry ``hs_lastmodifieddate``, contacts
  ``lastmodifieddate``; records ``{id, properties, createdAt, updatedAt, archived}`` (sales-apis.md
  s.2; fixtures/search_deals_page1.json, contacts_batch_read.json).
* Search (``POST /crm/v3/objects/deals/search``) sees writes only after ``search_lag``: HubSpot's
  search index is eventually consistent; "changes made by other API calls will take several
  seconds to propagate to the search indexing" (docs.locoia.com HubSpot connector page;
  sales-apis.md s.2 lists it as [M]). Reads by id and batch reads see writes at once
  [assumed]. Archived deals never appear in search.
* Archived records are kept about 90 days ([M], sales-apis.md s.2), after which nothing lists
  them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tests.docfakes.clock import FakeClock
from tests.docfakes.hubspot_catalog import PROPERTIES, property_types
from tests.docfakes.hubspot_limits import Limits
from tests.docfakes.hubspot_search import RESULT_CAP, Indexed, hs_time

ACCESS_TOKEN_SECONDS = 1800
ARCHIVE_RETENTION = timedelta(days=90)


@dataclass
class CrmObject:
    id: str
    properties: dict[str, str | None]
    created: datetime
    updated: datetime
    archived_at: datetime | None = None
    index: list[tuple[datetime, Indexed | None]] = field(default_factory=list)
    """Search index versions: (visible from, what search sees; None = not searchable)."""

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "properties": dict(self.properties),
            "createdAt": hs_time(self.created),
            "updatedAt": hs_time(self.updated),
            "archived": self.archived_at is not None,
        }
        if self.archived_at is not None:
            out["archivedAt"] = hs_time(self.archived_at)
        return out


@dataclass
class Fault:
    status: int
    body: Any
    path_contains: str = ""
    times: int = 1


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int


class HubSpotAccount:
    """One HubSpot account (portal) and the API state around it."""

    def __init__(self, clock: FakeClock, *, search_lag: timedelta = timedelta(seconds=5)) -> None:
        self.clock = clock
        self.search_lag = search_lag
        self.objects: dict[str, dict[str, CrmObject]] = {t: {} for t in PROPERTIES}
        self.owners: dict[str, dict[str, Any]] = {}
        self.deal_companies: dict[str, dict[str, bool]] = {}
        self.deal_contacts: dict[str, set[str]] = {}
        self.private_app_token: str | None = None
        self.oauth_clients: dict[str, str] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.access_tokens: dict[str, datetime] = {}
        self.access_token_seconds = ACCESS_TOKEN_SECONDS
        """HubSpot: "follow expires_in, not hardcoded values" (changelog, sales-apis.md s.2)."""
        self.limits = Limits()
        self.tie_salt = "docfake"
        self.result_cap = RESULT_CAP
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self._ids = {
            "deals": itertools.count(18452330001),
            "companies": itertools.count(9344412001),
            "contacts": itertools.count(551201),
            "owners": itertools.count(61458801),
        }

    # --- credentials ------------------------------------------------------------------------

    def add_private_app(self, token: str) -> None:
        self.private_app_token = token

    def add_oauth_install(self, client_id: str, client_secret: str, refresh_token: str) -> None:
        self.oauth_clients[client_id] = client_secret
        self.refresh_tokens[refresh_token] = client_id

    # --- records ----------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def _write(self, kind: str, obj: CrmObject, when: datetime) -> None:
        last = "lastmodifieddate" if kind == "contacts" else "hs_lastmodifieddate"
        obj.updated = when
        obj.properties[last] = hs_time(when)
        if kind == "deals":
            snapshot = None
            if obj.archived_at is None:
                snapshot = Indexed(
                    obj.id, dict(obj.properties), hs_time(obj.created), hs_time(obj.updated)
                )
            obj.index.append((when + self.search_lag, snapshot))

    def create(self, kind: str, *, at: datetime | None = None, **properties: Any) -> str:
        """Create a deal, company or contact; property values are stored as strings."""
        when = at or self.now()
        object_id = str(next(self._ids[kind]))
        values: dict[str, str | None] = {p.name: None for p in PROPERTIES[kind]}
        values.update(_strings(kind, properties))
        values.update(hs_object_id=object_id, createdate=hs_time(when))
        obj = CrmObject(object_id, values, when, when)
        self.objects[kind][object_id] = obj
        self._write(kind, obj, when)
        return object_id

    def update(
        self, kind: str, object_id: str, *, at: datetime | None = None, **properties: Any
    ) -> None:
        obj = self.objects[kind][object_id]
        obj.properties.update(_strings(kind, properties))
        self._write(kind, obj, at or self.now())

    def archive(self, kind: str, object_id: str) -> None:
        obj = self.objects[kind][object_id]
        obj.archived_at = self.now()
        self._write(kind, obj, self.now())

    def add_owner(self, email: str, first: str, last: str) -> str:
        owner_id = str(next(self._ids["owners"]))
        self.owners[owner_id] = {
            "id": owner_id,
            "email": email,
            "type": "PERSON",
            "firstName": first,
            "lastName": last,
            "userId": int(owner_id) % 10_000_000,
            "archived": False,
            "createdAt": hs_time(self.now()),
            "updatedAt": hs_time(self.now()),
        }
        return owner_id

    def associate_company(self, deal_id: str, company_id: str, *, primary: bool = False) -> None:
        self.deal_companies.setdefault(deal_id, {})[company_id] = primary

    def associate_contact(self, deal_id: str, contact_id: str) -> None:
        self.deal_contacts.setdefault(deal_id, set()).add(contact_id)

    def inject(self, status: int, body: Any, *, path_contains: str = "", times: int = 1) -> Fault:
        fault = Fault(status, body, path_contains, times)
        self.faults.append(fault)
        return fault

    # --- reads ------------------------------------------------------------------------------

    def searchable_deals(self) -> list[Indexed]:
        """What the search index holds now: each deal's newest version that has propagated."""
        now = self.now()
        visible: list[Indexed] = []
        for obj in self.objects["deals"].values():
            current = [snap for since, snap in obj.index if since <= now]
            if current and current[-1] is not None:
                visible.append(current[-1])
        return visible

    def archived_deals(self) -> list[CrmObject]:
        horizon = self.now() - ARCHIVE_RETENTION
        return [
            o
            for o in self.objects["deals"].values()
            if o.archived_at is not None and o.archived_at > horizon
        ]


def _strings(kind: str, properties: Mapping[str, Any]) -> dict[str, str | None]:
    known = property_types(kind)
    out: dict[str, str | None] = {}
    for name, value in properties.items():
        if name not in known:
            raise KeyError(f"{kind} has no property {name}")
        if value is None:
            out[name] = None
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            out[name] = str(int(value))
        else:
            out[name] = str(value)
    return out
