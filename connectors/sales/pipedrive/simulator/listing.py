"""v2 list semantics: parameters, filters, sorting and the keyset ``cursor`` (FACTS.md §3).

* ``updated_since`` keeps ``update_time >= since`` (inclusive); ``updated_until`` keeps
  ``update_time < until`` (exclusive) (§3.1).
* ``sort_by`` ``id`` (default), ``update_time`` or ``add_time``; ``sort_direction`` ``asc``
  (default) or ``desc``; ties on the sort value are ordered by id in the same direction (§3.3:
  inferred from the example cursor).
* ``limit`` 1..500, default 100. ``cursor`` is base64url of ``{"field", "fieldValue",
  "sortDirection", "id"}`` naming the first item of the next page (the documented example,
  decoded); the next page starts at that key, so a record updated while a client pages moves.
* ``ids`` at most 100; unknown ids are left out. ``custom_fields`` at most 15 keys.

Bad values answer 400 with the envelope and a message naming the parameter (the exact
messages are unverified, §8.3).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.sales.pipedrive.simulator.store import Record, iso

SORT_FIELDS = ("id", "update_time", "add_time")
STATUSES = ("open", "won", "lost", "deleted")
FILTERS = ("owner_id", "person_id", "org_id", "pipeline_id", "stage_id")
LIMIT_DEFAULT, LIMIT_MAX = 100, 500
IDS_MAX = 100
CUSTOM_KEYS_MAX = 15


class BadRequest(Exception):
    """A parameter Pipedrive would refuse (400)."""


@dataclass
class ListQuery:
    """A parsed v2 list request."""

    sort_by: str = "id"
    descending: bool = False
    limit: int = LIMIT_DEFAULT
    after: tuple[int, int] | None = None
    since: float | None = None
    until: float | None = None
    statuses: frozenset[str] = frozenset({"open", "won", "lost"})
    ids: frozenset[int] | None = None
    filters: dict[str, int] = field(default_factory=dict)
    filter_id: int | None = None
    custom_keys: list[str] | None = None

    def sort_value(self, record: Record) -> int:
        """The value the list is sorted by."""
        if self.sort_by == "update_time":
            return record.update_time
        if self.sort_by == "add_time":
            return record.add_time
        return record.id

    def key(self, record: Record) -> tuple[int, int]:
        """(sort value, id)."""
        return (self.sort_value(record), record.id)


def parse(params: Mapping[str, str], *, deals: bool) -> ListQuery:
    """Read the parameters of a list call (deal-only ones only when ``deals``)."""
    query = ListQuery()
    query.limit = _limit(params.get("limit"))
    if "ids" in params:
        query.ids = _ids(params["ids"])
    if not deals:
        query.after = _cursor(params.get("cursor"), "id", descending=False)
        return query
    query.sort_by = params.get("sort_by", "id")
    if query.sort_by not in SORT_FIELDS:
        raise BadRequest(f"sort_by must be one of {', '.join(SORT_FIELDS)}")
    direction = params.get("sort_direction", "asc")
    if direction not in ("asc", "desc"):
        raise BadRequest("sort_direction must be asc or desc")
    query.descending = direction == "desc"
    query.after = _cursor(params.get("cursor"), query.sort_by, descending=query.descending)
    query.since = _time(params, "updated_since")
    query.until = _time(params, "updated_until")
    if "status" in params:
        query.statuses = _statuses(params["status"])
    for name in ("filter_id", *FILTERS):
        if name in params:
            value = _int(params[name], name)
            if name == "filter_id":
                query.filter_id = value
            else:
                query.filters[name] = value
    if "custom_fields" in params:
        keys = [k for k in params["custom_fields"].split(",") if k]
        if len(keys) > CUSTOM_KEYS_MAX:
            raise BadRequest(f"custom_fields accepts a maximum of {CUSTOM_KEYS_MAX} keys")
        query.custom_keys = keys
    return query


def page(records: Iterable[Record], query: ListQuery) -> tuple[list[Record], str | None]:
    """One page of the records that passed the filters, and the cursor of the next one."""
    ordered = sorted(records, key=query.key, reverse=query.descending)
    if query.after is not None:
        after = query.after
        ordered = [
            r
            for r in ordered
            if (query.key(r) <= after if query.descending else query.key(r) >= after)
        ]
    chunk, rest = ordered[: query.limit], ordered[query.limit :]
    if not rest:
        return chunk, None
    return chunk, encode_cursor(query, rest[0])


def encode_cursor(query: ListQuery, record: Record) -> str:
    """The cursor naming ``record`` as the next page's first item."""
    value: Any = query.sort_value(record)
    if query.sort_by != "id":
        value = iso(value)
    data = {
        "field": query.sort_by,
        "fieldValue": value,
        "sortDirection": "desc" if query.descending else "asc",
        "id": record.id,
    }
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def matches(
    record: Record, query: ListQuery, saved: Callable[[int], dict[str, Any] | None]
) -> bool:
    """The deal filters (``filter_id`` replaces the others, FACTS.md §3.1)."""
    if query.ids is not None and record.id not in query.ids:
        return False
    conditions: dict[str, Any] = dict(query.filters)
    if query.filter_id is not None:
        found = saved(query.filter_id)
        if found is None:
            raise BadRequest(f"filter_id {query.filter_id} does not exist")
        conditions = found
    if any(record.data.get(name) != value for name, value in conditions.items()):
        return False
    if query.since is not None and record.update_time < query.since:
        return False
    return query.until is None or record.update_time < query.until


def _cursor(raw: str | None, sort_by: str, *, descending: bool) -> tuple[int, int] | None:
    if raw is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        direction = "desc" if descending else "asc"
        if data["field"] != sort_by or data["sortDirection"] != direction:
            raise BadRequest("cursor does not belong to this sort_by/sort_direction")
        value = data["fieldValue"]
        sort_value = int(value) if sort_by == "id" else int(_parse(str(value)).timestamp())
        return (sort_value, int(data["id"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest("cursor is not valid") from exc


def _limit(raw: str | None) -> int:
    if raw is None:
        return LIMIT_DEFAULT
    value = _int(raw, "limit")
    if not 1 <= value <= LIMIT_MAX:
        raise BadRequest(f"limit must be between 1 and {LIMIT_MAX}")
    return value


def _ids(raw: str) -> frozenset[int]:
    ids = [_int(part, "ids") for part in raw.split(",") if part.strip()]
    if len(ids) > IDS_MAX:
        raise BadRequest(f"ids accepts up to {IDS_MAX} entity ids")
    return frozenset(ids)


def _statuses(raw: str) -> frozenset[str]:
    found = frozenset(s.strip() for s in raw.split(",") if s.strip())
    unknown = sorted(found - set(STATUSES))
    if unknown or not found:
        raise BadRequest(f"status must be a comma separated list of {', '.join(STATUSES)}")
    return found


def _time(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return _parse(raw).timestamp()
    except ValueError:
        raise BadRequest(
            f"{name} must be an RFC 3339 date-time, e.g. 2025-01-01T10:20:00Z"
        ) from None


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment


def _int(raw: str, name: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
