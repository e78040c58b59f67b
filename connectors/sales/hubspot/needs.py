"""Which HubSpot properties and related objects a mapping's field paths require.

Payload paths (see the package docstring): ``properties.<deal property>``,
``companies.properties.<company property>``, ``contacts.properties.<contact property>``,
``owner.<email|firstName|lastName|id>``, plus the record keys ``id``, ``createdAt``...
Companies, contacts and owners are fetched only when a path reaches them; an empty path list
(no mapping yet, contract checks) fetches everything: every property HubSpot lists for each
object type (:meth:`Needs.with_all_properties`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

DEAL_BASE = (
    "hs_lastmodifieddate",
    "hs_object_id",
    "createdate",
    "dealname",
    "dealstage",
    "pipeline",
    "amount",
    "deal_currency_code",
    "closedate",
    "hubspot_owner_id",
)
COMPANY_BASE = ("name", "domain")
CONTACT_BASE = ("email", "firstname", "lastname")


@dataclass(frozen=True)
class Needs:
    """Properties to request per object type; None means "do not fetch that object at all"."""

    deal: tuple[str, ...]
    companies: tuple[str, ...] | None
    contacts: tuple[str, ...] | None
    owner: bool
    owner_required: bool
    """False when owners are fetched only by default: a missing owners scope is then tolerated."""
    everything: bool = False
    """No paths were given: ask for every property of every object type."""

    @classmethod
    def from_paths(cls, paths: Iterable[str]) -> Needs:
        """Read the mapping's dotted paths into the calls a page of deals needs."""
        paths = tuple(paths)
        if not paths:
            return cls(
                DEAL_BASE, COMPANY_BASE, CONTACT_BASE, owner=True, owner_required=False,
                everything=True,
            )  # fmt: skip
        deal = _props(paths, "properties.")
        companies = _related(paths, "companies", COMPANY_BASE)
        contacts = _related(paths, "contacts", CONTACT_BASE)
        owner = any(p == "owner" or p.startswith("owner.") for p in paths)
        return cls(_merge(DEAL_BASE, deal), companies, contacts, owner=owner, owner_required=owner)

    def with_all_properties(self, names: dict[str, tuple[str, ...]]) -> Needs:
        """Add every listed property name (by object type: deals, companies, contacts)."""
        return replace(
            self,
            deal=_merge(self.deal, names.get("deals", ())),
            companies=_merge(self.companies or (), names.get("companies", ())),
            contacts=_merge(self.contacts or (), names.get("contacts", ())),
        )


def _related(paths: tuple[str, ...], name: str, base: tuple[str, ...]) -> tuple[str, ...] | None:
    if not any(p == name or p.startswith(f"{name}.") for p in paths):
        return None
    return _merge(base, _props(paths, f"{name}.properties."))


def _props(paths: tuple[str, ...], prefix: str) -> tuple[str, ...]:
    """Property names under ``prefix`` (a deeper path keeps only the property's own name)."""
    return tuple(p.removeprefix(prefix).split(".")[0] for p in paths if p.startswith(prefix))


def _merge(base: tuple[str, ...], extra: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*base, *extra)))
