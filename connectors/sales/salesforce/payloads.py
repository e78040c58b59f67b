"""Query records -> ``SourceDeal``: the shape mappings address, and the cursor it yields.

A query record nests parents as objects (``"Account": {"Website": ...}`` or ``"Account": null``)
and children as query results (``{"totalSize", "done", "records"}``, or null when there are
none), each with an ``attributes`` key [restforce ``query_success_response.json``]. The payload
keeps the parents as they are, turns each child result into the plain list of its records (empty
when null) and drops every ``attributes`` key, so ``OpportunityContactRoles.Contact.Email``
resolves over a list. Field values are left as Salesforce sent them (strings stay strings);
the mapping types them.

Datetimes arrive as ``2026-11-23T14:05:00.000+0000`` (note ``+0000``, not ``+00:00``) and dates as
``2026-11-23``.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base import Cursor
from connectors.errors import PermanentError
from connectors.record_values import as_utc

_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def is_child_result(value: object) -> bool:
    """True for a nested query result (``{"totalSize", "done", "records"}``)."""
    return isinstance(value, dict) and isinstance(value.get("records"), list) and "done" in value


_NESTED = (dict, list)
"""What :func:`clean` has to look into (a tuple: ``dict | list`` is built again per test)."""


def clean(value: Any) -> Any:
    """Drop ``attributes`` keys everywhere and replace child query results by their records."""
    if isinstance(value, dict):
        records = value.get("records")
        if isinstance(records, list) and "done" in value:  # is_child_result, inlined
            return [clean(item) for item in records]
        return {
            key: clean(item) if isinstance(item, _NESTED) else item
            for key, item in value.items()
            if key != "attributes"
        }
    if isinstance(value, list):
        return [clean(item) for item in value]
    return value


def clean_record(
    raw: dict[str, Any], child_relationships: tuple[str, ...], cut_short: list[str] | None = None
) -> dict[str, Any] | list[Any]:
    """The deal payload: cleaned, and every configured child relationship a list (never null).

    One pass over the record's own fields (about 20 a deal): a null field is looked up among
    the relationships, a parent or child is cleaned, any other value is kept as it is.
    ``cut_short``, when given, receives the keys (in the record's order) of the child results
    Salesforce cut short (:func:`is_cut_short`): the same pass finds them, so a record whose
    children are whole (nearly every one) is looked through once, not twice."""
    if is_child_result(raw):  # not a record (no Opportunity has these fields): as clean does,
        # its records' list (which SourceDeal's validation then refuses as a payload)
        if cut_short is not None:
            cut_short += [key for key, value in raw.items() if is_cut_short(value)]
        records: list[Any] = clean(raw)
        return records
    wanted = _lowered(child_relationships)
    payload: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "attributes":
            if cut_short is not None and is_cut_short(value):
                cut_short.append(key)
            continue
        if value is None:
            payload[key] = [] if key.lower() in wanted else None
        elif isinstance(value, _NESTED):
            payload[key] = clean(value)
            if cut_short is not None and is_cut_short(value):
                cut_short.append(key)
        else:
            payload[key] = value
    return payload


def is_cut_short(value: object) -> bool:
    """A child result Salesforce cut short: ``done`` not true, its rest behind a locator."""
    if not isinstance(value, dict) or value.get("done", True) is True:
        return False
    return is_child_result(value)


@functools.lru_cache(maxsize=64)
def _lowered(names: tuple[str, ...]) -> frozenset[str]:
    """The configured relationship names, lower-cased once per configuration, not per deal."""
    return frozenset(name.lower() for name in names)


_SALESFORCE_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}", re.ASCII)
"""How Salesforce writes every datetime (``2026-11-23T14:05:00.000+0000``): a form
``datetime.fromisoformat`` reads as it is (Python 3.11 takes ``+0000`` as ``+00:00``)."""


def parse_datetime(value: object) -> datetime | None:
    """An aware UTC datetime from Salesforce's forms (``.000+0000``, ``Z``, ``+00:00``), or None."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    if len(value) == 28 and _SALESFORCE_FORM.fullmatch(value):
        # Salesforce's own form (every record's SystemModstamp, 2,000 a page): read without
        # the offset rewritten first, which cost more than the reading itself.
        try:
            return as_utc(datetime.fromisoformat(value))
        except ValueError:
            pass  # (an hour or offset out of range) answered by the general reading below
    text = value.strip()
    if compact := _COMPACT_OFFSET.search(text):  # a template replacement costs more per call
        text = f"{text[: compact.start()]}{compact[1]}:{compact[2]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return as_utc(moment)  # Salesforce datetimes are UTC when unmarked


@dataclass(frozen=True)
class Sweep:
    """The last overlap re-read (see ``SalesforceSource.changed_deals``): the cursor's
    SystemModstamp when it started, and our clock then (epoch seconds)."""

    anchor: datetime
    at: float


def encode_cursor(modstamp: datetime, record_id: str, sweep: Sweep | None = None) -> Cursor:
    """The checkpoint after a record: ``{"ts": "<iso>", "id": "<Id>"}``, plus the last overlap
    re-read's ``{"anchor": "<iso>", "swept": <epoch seconds>}`` when there was one."""
    data: dict[str, Any] = {"ts": modstamp.astimezone(UTC).isoformat(), "id": record_id}
    if sweep is not None:
        data |= {"anchor": sweep.anchor.astimezone(UTC).isoformat(), "swept": sweep.at}
    return Cursor(value=json.dumps(data))


def decode_sweep(cursor: Cursor) -> Sweep | None:
    """The last overlap re-read a checkpoint records (None: none, or a cursor from before)."""
    try:
        data = json.loads(cursor.value)
        anchor, swept = parse_datetime(data.get("anchor")), data.get("swept")
    except (ValueError, TypeError, AttributeError):
        return None
    if anchor is None or not isinstance(swept, int | float) or isinstance(swept, bool):
        return None
    return Sweep(anchor, float(swept))


def decode_cursor(cursor: Cursor) -> tuple[datetime, str]:
    """Read a checkpoint back; a cursor this connector did not write is refused clearly."""
    try:
        data = json.loads(cursor.value)
        moment = parse_datetime(data["ts"])
        record_id = str(data.get("id") or "")
    except (ValueError, TypeError, KeyError):
        moment = None
    if moment is None:
        raise PermanentError(
            f"stored cursor {cursor.value[:80]!r} is not a Salesforce cursor "
            '({"ts": ..., "id": ...}); run the job once with a full read to reset it',
            who_acts="admin",
            operation="read cursor",
        )
    return moment, record_id


def deal_url(instance_url: str, sobject: str, record_id: str) -> str:
    """Lightning deep link: ``{instance_url}/lightning/r/Opportunity/{Id}/view``."""
    return f"{instance_url}/lightning/r/{sobject}/{record_id}/view"
