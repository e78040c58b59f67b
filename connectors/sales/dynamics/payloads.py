"""Dataverse rows -> ``SourceDeal`` payloads, and the record-level problems found on the way.

A row is the Web API's JSON (FACTS.md §3, §4.5): columns by logical name, lookups as
``_<name>_value`` GUIDs, an expanded navigation property as a nested object (``null`` when the
lookup is empty), plus ``@``-annotations (``@odata.etag``...). The payload keeps the row, drops
every annotation, and replaces each choice value by its label from the metadata (a multi-select
value ``"1,3"`` becomes a list of labels), in the row and in each expanded row::

    {"opportunityid": "...", "name": "Acme renewal", "modifiedon": "2026-11-20T09:00:00Z",
     "new_specialdiscount": 15, "new_paymentterms": "Net 60", "statecode": "Won",
     "_parentaccountid_value": "...",
     "parentaccountid": {"accountid": "...", "name": "Acme", "websiteurl": "https://acme.example"}}

Two problems are the record's, not the run's (each is noted and the deal goes on):

* an option value without a label keeps its number, so an enum mapping reports the deal and
  the value, and the note says which column and option to label in Dynamics;
* a lookup that names a row Dataverse no longer returns (the account was deleted) leaves the
  navigation property ``null``: the deal is then matched by its other identity rules, or
  reported as unmatched.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.base import SourceDeal
from connectors.record_values import as_utc
from connectors.sales.dynamics.metadata import Column, TableSchema

DEAL_KEY = "opportunityid"
DEAL_TABLE = "opportunity"
DEAL_SET = "opportunities"


class Notes:
    """Record-level problems of one read, each said once, for ``dealbridge status``."""

    def __init__(self) -> None:
        self._seen: dict[str, None] = {}

    def add(self, text: str) -> None:
        """Remember one problem (repeats are dropped)."""
        self._seen.setdefault(text, None)

    def clear(self) -> None:
        """Forget the previous read's problems."""
        self._seen.clear()

    def items(self) -> list[str]:
        """The problems, in the order they were found."""
        return list(self._seen)


def deal_payload(
    row: Mapping[str, Any],
    deals: TableSchema,
    related: Mapping[str, TableSchema],
    notes: Notes,
) -> dict[str, Any]:
    """The payload of one deal row (see the module docstring)."""
    deal_id = str(row.get(DEAL_KEY) or "")
    payload = _labelled(row, deals, f"deal {deal_id}", notes)
    for navigation, schema in related.items():
        nested = row.get(navigation)
        if isinstance(nested, dict):
            where = f"deal {deal_id} {navigation}"
            payload[navigation] = _labelled(nested, schema, where, notes)
            continue
        payload[navigation] = None
        lookup = row.get(f"_{navigation}_value")
        if isinstance(lookup, str) and lookup:
            notes.add(
                f"deal {deal_id}: {navigation} {lookup} no longer exists in Dynamics (deleted?); "
                "the deal is matched by its other identity rules or reported unmatched"
            )
    return payload


def _labelled(
    row: Mapping[str, Any], schema: TableSchema, where: str, notes: Notes
) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in row.items():
        if "@" in key or isinstance(value, dict):
            continue  # annotations; nested rows are the caller's
        column = schema.column(key)
        labelled = column is not None and column.is_choice and value is not None
        clean[key] = _label(column, value, where, notes) if labelled and column else value
    return clean


def _label(column: Column, value: Any, where: str, notes: Notes) -> Any:
    if column.kind == "MultiSelectPicklistType":
        parts = [p.strip() for p in str(value).split(",") if p.strip()]
        return [_one_label(column, p, where, notes) for p in parts]
    return _one_label(column, value, where, notes)


def _one_label(column: Column, value: Any, where: str, notes: Notes) -> Any:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return value
    label = (column.options or {}).get(number)
    if label is not None:
        return label
    notes.add(
        f"{where}: {column.logical_name} = {number} has no label in Dynamics' choice metadata; "
        "the number is passed on (label the option in Dynamics, or map the number under the "
        "term's values)"
    )
    return number


def parse_modifiedon(value: object) -> datetime | None:
    """``2026-11-20T09:00:00Z`` as an aware UTC datetime (None when unreadable)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return as_utc(moment)


def live_deal(payload: dict[str, Any], modified: datetime, url: str) -> SourceDeal:
    """A deal as it is now."""
    return SourceDeal(id=str(payload[DEAL_KEY]), modified_at=modified, payload=payload, url=url)


def removed_deal(deal_id: str, when: datetime, url: str) -> SourceDeal:
    """A deal that was deleted, or no longer matches the mapping's select."""
    return SourceDeal(
        id=deal_id, modified_at=when, payload={DEAL_KEY: deal_id}, deleted=True, url=url
    )


def deal_url(base_url: str, deal_id: str) -> str:
    """The deal's form in the Dynamics web client (``main.aspx`` record link)."""
    return f"{base_url}/main.aspx?pagetype=entityrecord&etn={DEAL_TABLE}&id={deal_id}"


def deleted_entity_id(row: Mapping[str, Any]) -> str | None:
    """The id of a ``$deletedEntity`` item of a delta response (FACTS.md §6.5), else None."""
    context = str(row.get("@odata.context") or "")
    if context.endswith("/$deletedEntity") or row.get("reason") == "deleted":
        found = row.get("id")
        return str(found) if isinstance(found, str) and found else None
    return None
