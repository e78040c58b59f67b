"""The identity feed: changed customer records, by polling ``sys_updated_on`` (FACTS.md 4.6, 12).

Per configured kind, one listing ordered by ``sys_updated_on`` then ``sys_id``, asking only
the identity columns (``sysparm_fields``, checked against the dictionary first: an unknown
name would be dropped silently, 4.2), ``page_size`` rows a page:

``GET /api/now/table/<table>?sysparm_query=sys_updated_on>T^NQsys_updated_on=T^sys_id>S^ORDERBY
sys_updated_on^ORDERBYsys_id&sysparm_fields=...&sysparm_limit=P``

Each page continues from the last row of the one before (keyset), so rows sharing a second
(``sys_updated_on`` has one-second resolution) are neither skipped nor repeated, and a row
saved during the listing does not shift the others as offsets would. The ``Link`` header's
``next`` decides whether more rows follow: a page may come back short, or empty, because the
limit is applied before ACLs (4.2); an empty page with a ``next`` is stepped over through that
link, and so is a page none of whose rows gives a position (rows that are not objects, which
the reader reports, or carry no usable ``sys_updated_on`` and ``sys_id``). Each page's
checkpoint is its last such row, but never inside the last ``settle_seconds`` of the
instance's clock (``Date``): a save in the same second could still land behind the position,
so those rows are read again next time (the index takes them idempotently).

Deleted records do not appear in a listing; they are noticed when a read or a write finds them
missing (``read`` leaves them out; a write fails with "no longer exists").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from connectors.base import Cursor, CustomerPage
from connectors.service.servicenow.client import ListPage
from connectors.service.servicenow.dictionary import CatalogPart
from connectors.service.servicenow.paging import SYS_ID, FeedCursor, Position, parse_stamp
from connectors.service.servicenow.payloads import TABLES, identity_columns, reader
from connectors.service.servicenow.query import updated_after

MAX_EMPTY_STEPS = 1000
"""Pages emptied by ACLs stepped over in a row before the listing is called finished."""


class IdentityFeed(CatalogPart):
    """Reads changed accounts, contacts and consumers for ``customers(since)``."""

    desk = "ServiceNow"
    id_field = "sys_id"

    async def pages(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        """Each kind's pages in turn, each with a checkpoint safe to store."""
        cursor = FeedCursor.decode(since)
        tables = [TABLES[k] for k in self._config.record_kinds]
        schemas = await self._catalog.schemas(tables)
        for kind in self._config.record_kinds:
            schema = schemas[TABLES[kind]]
            columns = identity_columns(kind, self._config, schema)
            start = cursor.at(kind)
            async for rows, position, page in self._listing(TABLES[kind], columns.asked, start):
                read = reader(kind, schema, columns, with_fields=False)
                records = self._read(rows, read, kind)
                stored = position.settled(page.vendor_time, self._config.settle_seconds)
                cursor = cursor.moved(kind, stored)
                yield self._page(records, cursor.encode())

    async def _listing(
        self, table: str, fields: tuple[str, ...], start: Position
    ) -> AsyncIterator[tuple[list[Any], Position, ListPage]]:
        """Each page's rows as sent, with the keyset position after it. A page with no row to
        continue from (its rows all hidden by ACLs, or none an object with a usable key) is
        stepped over through its ``next`` link; its rows, if it has any, are yielded first,
        so that the reader reports them."""
        position = start
        operation = f"identity {table}"
        while True:
            params = {
                "sysparm_query": updated_after(position.stamp, position.sys_id),
                "sysparm_fields": ",".join(fields),
                "sysparm_limit": self._config.page_size,
            }
            page = await self._api.list_page(table, params, operation=operation)
            steps = 0
            while (key := _last(page.rows)) is None and page.next_path is not None:
                if steps >= MAX_EMPTY_STEPS:
                    break
                if page.rows:
                    yield page.rows, position, page
                steps += 1
                page = await self._api.follow(page.next_path, operation=operation)
            previous, position = position, position if key is None else key
            yield page.rows, position, page
            if page.next_path is None or key is None or position == previous:
                return  # the end, or an answer that ignored the position: no progress


def _last(rows: list[Any]) -> Position | None:
    """The keyset position after ``rows``: its last object row with a usable key (None when
    no row has one)."""
    for row in reversed(rows):
        if not isinstance(row, dict):
            continue  # reported by the reader; it names no place in the table
        stamp, sys_id = row.get("sys_updated_on"), row.get("sys_id")
        if parse_stamp(stamp) is not None and isinstance(sys_id, str) and SYS_ID.fullmatch(sys_id):
            return Position(stamp=str(stamp).strip(), sys_id=sys_id)
    return None
