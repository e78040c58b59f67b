"""Collection reads: server-driven paging, change tracking and delta links.

Paging (FACTS.md §4): ``Prefer: odata.maxpagesize=N`` (default and maximum 5,000; a larger
value is capped and the applied size echoed in ``Preference-Applied``); a page with more rows
behind it carries ``@odata.nextLink`` = the same URL with a ``$skiptoken`` paging cookie. The
cookie holds the last row's sort values, and each page is evaluated afresh from it ("the next
record after the last one on the preceding page"), so rows changed meanwhile can move between
pages, as in Dataverse (§4.4, §10.2). Without ``$orderby`` rows come by primary key.

Change tracking (FACTS.md §6):

* ``Prefer: odata.track-changes`` on a read refuses ``$filter``/``$orderby``/``$expand``/``$top``
  (§6.4), answers ``Preference-Applied: odata.track-changes`` and puts ``@odata.deltaLink`` on
  the **last** page only (§6.2-6.3). Its token is the version at the moment that last page is
  served, so a row changed while the load paged, on a page already served, never reaches a
  later delta: the reported risk of §6.3, modelled on purpose.
* ``GET <deltaLink>`` (token ``<version>!<MM/dd/yyyy HH:mm:ss>``, §6.2) lists rows changed
  after the token, once each with current values and sorted by version, then deleted rows as
  ``$deletedEntity`` (a row created and deleted in between is listed as deleted, §6.6); more
  than a page of changes pages with ``$skiptoken``; the last page has a new delta link.
* A token older than ``expire_days`` (``ExpireChangeTrackingInDays``, 7 by default) fails with
  ``0x80044352`` "Version stamp associated with the client has expired. Please perform a full
  sync." (§6.7); its HTTP status is not documented, so it is a setting (400 by default).
"""

from __future__ import annotations

import base64
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from connectors.sales.dynamics.simulator.errors import (
    EXPIRED_VERSION_STAMP,
    ODataError,
    not_supported_with_tracking,
)
from connectors.sales.dynamics.simulator.query import (
    Descending,
    Query,
    filter_view,
    parse_query,
    render,
    sort_key,
)
from connectors.sales.dynamics.simulator.schema import TableDef
from connectors.sales.dynamics.simulator.store import Environment, Row

MAX_PAGE = 5000
TOKEN_DATE = "%m/%d/%Y %H:%M:%S"  # noqa: S105 - a date format
_TOKEN = re.compile(r"^(\d+)!(\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2})$")
SNAPSHOTS_KEPT = 200


@dataclass(frozen=True)
class Prefer:
    """What the ``Prefer`` header asked for."""

    max_page_size: int | None = None
    track_changes: bool = False
    annotations: bool = False

    @classmethod
    def parse(cls, header: str) -> Prefer:
        """Read comma-separated preferences (FACTS.md §1.3)."""
        size, track, annotate = None, False, False
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            key = key.strip().lower()
            if key == "odata.maxpagesize" and value.strip().isdigit():
                size = int(value.strip())
            elif key == "odata.track-changes":
                track = True
            elif key == "odata.include-annotations":
                annotate = True
        return cls(size, track, annotate)


@dataclass
class TrackingSettings:
    """Change-tracking knobs of the simulated org."""

    expire_days: float = 7.0
    expired_status: int = 400
    empty_delta_body: bool = False
    """Answer a delta without changes with ``{}`` ("an empty JSON response", §6.5)."""


@dataclass
class Answer:
    """A collection read's body and the preferences it applied."""

    body: dict[str, Any]
    applied: list[str]


@dataclass
class _Snapshot:
    items: list[tuple[str, str]]
    end_version: int
    select: tuple[str, ...] | None


class CollectionReader:
    """Serves collection reads of one environment."""

    def __init__(self, env: Environment, tracking: TrackingSettings) -> None:
        self.env = env
        self.tracking = tracking
        self._snapshots: OrderedDict[str, _Snapshot] = OrderedDict()
        self._next_snapshot = 0

    def read(self, table: TableDef, params: Mapping[str, str], prefer: Prefer, url: str) -> Answer:
        """One page of ``table`` for these query options; ``url`` is the request URL."""
        if "$deltatoken" in params:
            return self._delta(table, params, prefer, url)
        query = parse_query(params, table, self.env)
        if prefer.track_changes:
            if not table.change_tracking:
                prefer = Prefer(prefer.max_page_size, False, prefer.annotations)
            else:
                for option in ("filter", "orderby", "expand", "top"):
                    if f"${option}" in query.given:
                        raise not_supported_with_tracking(option)
        size = min(prefer.max_page_size or MAX_PAGE, MAX_PAGE)
        rows = self._matching(query)
        after = _decode_cookie(params.get("$skiptoken"))
        if after is not None:
            rows = [r for r in rows if sort_key(r, query) > after]
        if query.top is not None and prefer.max_page_size is None:
            rows, size = rows[: query.top], max(query.top, 1)  # $top is ignored with a page size
        page, more = rows[:size], len(rows) > size
        body: dict[str, Any] = {
            "@odata.context": _context(url, table, query.select),
            "value": [
                render(
                    r,
                    table,
                    query.select,
                    self.env,
                    expand=query.expand,
                    annotate=prefer.annotations,
                )
                for r in page
            ],
        }
        applied = [f"odata.maxpagesize={size}"] if prefer.max_page_size else []
        if prefer.annotations:
            applied.append('odata.include-annotations="*"')
        if more:
            body["@odata.nextLink"] = _with(url, {"$skiptoken": _cookie(sort_key(page[-1], query))})
        if prefer.track_changes:
            applied.append("odata.track-changes")
            if not more:
                body["@odata.deltaLink"] = self._delta_link(url, query.select, self.env.version)
        return Answer(body, applied)

    def _matching(self, query: Query) -> list[Row]:
        table = query.table
        rows = list(self.env.rows_of(table.logical).values())
        if query.predicate is not None:
            predicate = query.predicate
            rows = [r for r in rows if predicate(filter_view(r, table))]
        return sorted(rows, key=lambda r: sort_key(r, query))

    # -- change tracking --------------------------------------------------------------------
    def _delta(
        self, table: TableDef, params: Mapping[str, str], prefer: Prefer, url: str
    ) -> Answer:
        for option in ("filter", "orderby", "expand", "top"):
            if f"${option}" in params:
                raise not_supported_with_tracking(option)
        since = self._token_version(params["$deltatoken"])
        query = parse_query({k: v for k, v in params.items() if k == "$select"}, table, self.env)
        size = min(prefer.max_page_size or MAX_PAGE, MAX_PAGE)
        key, offset = _snapshot_position(params.get("$skiptoken"))
        snapshot = self._snapshots.get(key) if key else None
        if snapshot is None:
            key, snapshot, offset = self._snapshot(table, since, query.select), None, 0
            snapshot = self._snapshots[key]
        items = snapshot.items[offset : offset + size]
        more = offset + size < len(snapshot.items)
        if not snapshot.items and self.tracking.empty_delta_body:
            return Answer({}, [])
        context = _context(url, table, None)
        value = [
            v for v in (self._delta_item(table, kind, i, query, context) for kind, i in items) if v
        ]
        body: dict[str, Any] = {
            "@odata.context": _context(url, table, query.select) + "/$delta",
            "value": value,
        }
        if more:
            body["@odata.nextLink"] = _with(url, {"$skiptoken": f"{key}:{offset + size}"})
        else:
            body["@odata.deltaLink"] = self._delta_link(url, query.select, snapshot.end_version)
        applied = [f"odata.maxpagesize={size}"] if prefer.max_page_size else []
        return Answer(body, applied)

    def _snapshot(self, table: TableDef, since: int, select: tuple[str, ...] | None) -> str:
        live = sorted(
            (r for r in self.env.rows_of(table.logical).values() if r.version > since),
            key=lambda r: r.version,
        )
        gone = [d for d in self.env.deletions.get(table.logical, []) if d.version > since]
        live_ids = {str(r.values[table.key]) for r in live}
        items = [("changed", str(r.values[table.key])) for r in live]
        items += [
            ("deleted", i) for i in dict.fromkeys(d.row_id for d in gone) if i not in live_ids
        ]
        self._next_snapshot += 1
        key = f"d{self._next_snapshot}"
        self._snapshots[key] = _Snapshot(items, self.env.version, select)
        while len(self._snapshots) > SNAPSHOTS_KEPT:
            self._snapshots.popitem(last=False)
        return key

    def _delta_item(
        self, table: TableDef, kind: str, row_id: str, query: Query, context: str
    ) -> dict[str, Any] | None:
        if kind == "deleted":
            return {
                "@odata.context": f"{context}/$deletedEntity",
                "id": row_id,
                "reason": "deleted",
            }
        row = self.env.get(table.logical, row_id)
        return None if row is None else render(row, table, query.select, self.env)

    def _token_version(self, token: str) -> int:
        match = _TOKEN.match(token.strip())
        if match is None:
            raise ODataError(400, "The delta token is not valid.")
        issued = datetime.strptime(match.group(2), TOKEN_DATE).replace(tzinfo=self.env.now().tzinfo)
        if self.env.now() - issued > timedelta(days=self.tracking.expire_days):
            raise ODataError(
                self.tracking.expired_status,
                "Version stamp associated with the client has expired. Please perform a full sync.",
                EXPIRED_VERSION_STAMP,
            )
        return int(match.group(1))

    def _delta_link(self, url: str, select: tuple[str, ...] | None, version: int) -> str:
        token = f"{version}!{self.env.now().strftime(TOKEN_DATE)}"
        base = url.split("?", 1)[0]
        params = {"$select": ",".join(select)} if select else {}
        query = urlencode(params, safe="$,")
        joiner = "&" if query else ""
        return f"{base}?{query}{joiner}$deltatoken={quote(token, safe='')}"


def _context(url: str, table: TableDef, select: tuple[str, ...] | None) -> str:
    root = url.split("/api/data/")[0]
    version = url.split("/api/data/")[1].split("/")[0] if "/api/data/" in url else "v9.2"
    columns = f"({','.join(select)})" if select else ""
    return f"{root}/api/data/{version}/$metadata#{table.entity_set}{columns}"


def _with(url: str, replace: Mapping[str, str]) -> str:
    """``url`` with the given query parameters replaced (the rest kept as sent)."""
    base, _, query = url.partition("?")
    kept = [p for p in query.split("&") if p and _name(p) not in replace]
    added = [f"{k}={quote(v, safe='')}" for k, v in replace.items()]
    return f"{base}?{'&'.join(kept + added)}"


def _name(pair: str) -> str:
    from urllib.parse import unquote

    return unquote(pair.split("=", 1)[0])


def _cookie(key: tuple[Any, ...]) -> str:
    raw = json.dumps(_jsonable(key), separators=(",", ":")).encode()
    cookie = base64.urlsafe_b64encode(raw).decode()
    return f'<cookie pagenumber="2" pagingcookie="{cookie}" istracking="False" />'


def _decode_cookie(token: str | None) -> tuple[Any, ...] | None:
    if not token:
        return None
    match = re.search(r'pagingcookie="([^"]+)"', token)
    if match is None:
        raise ODataError(400, "The $skiptoken is not valid.")
    try:
        data = json.loads(base64.urlsafe_b64decode(match.group(1)))
    except ValueError:
        raise ODataError(400, "The $skiptoken is not valid.") from None
    return tuple(_restored(data))


def _snapshot_position(token: str | None) -> tuple[str | None, int]:
    if not token or ":" not in token:
        return None, 0
    key, _, offset = token.partition(":")
    return key, int(offset) if offset.isdigit() else 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, Descending):
        return {"desc": _jsonable(value.key)}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _restored(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_restored(v) for v in value)
    if isinstance(value, dict) and "desc" in value:
        return Descending(_restored(value["desc"]))
    if isinstance(value, dict) and "dt" in value:
        return datetime.fromisoformat(value["dt"])
    if isinstance(value, dict) and "d" in value:
        return date.fromisoformat(value["d"])
    return value
