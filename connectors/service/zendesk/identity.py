"""The identity index feed: organizations and end-users changed since the cursor.

* Organizations: time-based incremental export
  ``GET /api/v2/incremental/organizations.json?start_time=<unix>&per_page=P``; the next page
  starts at the answer's ``end_time`` until ``end_of_stream`` [doc: Incremental Exports].
  Records sharing ``end_time`` come back on the next page; they are yielded once per read.
* Users: cursor-based export ``GET /api/v2/incremental/users/cursor.json?start_time=`` then
  ``?cursor=<after_cursor>`` until ``end_of_stream``; the last ``after_cursor`` is kept for
  the next run, as Zendesk recommends.

``start_time`` must lie at least a minute in the past, so a later start is pulled back to
``now - 61 s`` (a harmless re-read). Should our clock run ahead of Zendesk's, Zendesk still
refuses it (422 "Too recent start_time", as client libraries record the answer); that ends
this read at the position reached, as an empty page would, instead of failing the run.
Exports leave out what changed within the minute before each request [doc: "Using the
Incremental Export API"]; the engine looks such records up directly when a deal needs one.
Exports include deleted organizations (``deleted_at``) and deactivated users (``active:
false``): both come through as ``deleted`` records. Agents and admins are left out: deals
attach to customers, not to staff.

The cursor is JSON ``{"organization": {"start_time": n}, "user": {"cursor": c, "start_time": n}}``.
Each page's checkpoint already holds that page's position, so a crash re-reads at most a page.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from connectors.base import Cursor, CustomerPage, CustomerRecord
from connectors.desk import DeskPart
from connectors.errors import PermanentError
from connectors.paging import CursorPaging, KeysetPaging, Page, Where
from connectors.ratelimit import Clock
from connectors.service.zendesk.client import ZendeskApi
from connectors.service.zendesk.config import ZendeskConfig
from connectors.service.zendesk.payloads import (
    ORGANIZATION,
    USER,
    identity_owner,
    organization_record,
    record_id,
    user_record,
)

MIN_AGE = 61
"""Seconds a ``start_time`` must lie in the past (Zendesk asks for one minute)."""


@dataclass(frozen=True)
class IdentityCursor:
    """Both export streams' positions."""

    org_start: int = 0
    user_start: int = 0
    user_cursor: str | None = None

    def encode(self) -> Cursor:
        """The JSON text stored by the engine."""
        payload = {
            ORGANIZATION: {"start_time": self.org_start},
            USER: {"cursor": self.user_cursor, "start_time": self.user_start},
        }
        return Cursor.of(payload)

    @classmethod
    def decode(cls, cursor: Cursor | None) -> IdentityCursor:
        """Read a stored cursor; anything unreadable means "export everything again"."""
        payload = Cursor.payload(cursor)
        orgs, users = payload.get(ORGANIZATION), payload.get(USER)
        orgs = orgs if isinstance(orgs, dict) else {}
        users = users if isinstance(users, dict) else {}
        user_cursor = users.get("cursor")
        return cls(
            org_start=_whole(orgs.get("start_time")),
            user_start=_whole(users.get("start_time")),
            user_cursor=user_cursor if isinstance(user_cursor, str) and user_cursor else None,
        )


@dataclass(frozen=True)
class _UserPage:
    """One page of the user export: end-users, the next cursor while the stream goes on, and
    the ``after_cursor`` to keep (also at the end of the stream, for the next run)."""

    items: list[CustomerRecord]
    following: str | None
    after: str | None


class _StartTooRecent(Exception):
    """Zendesk refused the ``start_time`` as too recent: the read ends where it is."""


class IdentityFeed(DeskPart[ZendeskConfig, ZendeskApi]):
    """Reads changed organizations and users for ``customers(since)``."""

    desk = "Zendesk"

    def __init__(self, api: ZendeskApi, config: ZendeskConfig, now: Clock = time.time) -> None:
        super().__init__(api, config)
        self._now = now

    async def pages(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        """Organization pages, then user pages, each with a checkpoint safe to store."""
        position = IdentityCursor.decode(since)
        if ORGANIZATION in self._config.record_kinds:
            async for records, position in self._organizations(position):  # noqa: B020
                yield self._page(records, position.encode())
        if USER in self._config.record_kinds:
            async for records, position in self._users(position):  # noqa: B020
                yield self._page(records, position.encode())

    async def _organizations(
        self, cursor: IdentityCursor
    ) -> AsyncIterator[tuple[list[CustomerRecord], IdentityCursor]]:
        """Time-based pages. The next page starts at ``end_time``, so the boundary second
        comes twice (the strategy drops what it already yielded); a page that one second's
        ties fill ends at its own ``start_time``: Zendesk answers a second whole, so the read
        goes on from the next second."""
        reached: list[int] = []

        async def fetch(start: int) -> Page[CustomerRecord, int]:
            params = {"start_time": start, "per_page": self._config.per_page}
            body = await self._export(ORGANIZATION, params)
            end = _whole(body.get("end_time"), default=start)
            reached.append(max(start, end))
            records = self._read(_rows(body, "organizations"), organization_record, ORGANIZATION)
            going_on = body.get("end_of_stream") is False and end >= start
            return Page(items=records, following=end if going_on else None)

        paging = KeysetPaging(
            fetch,
            where=Where(self._api.http.connector, "export_organizations", "Zendesk"),
            step_past=lambda second: second + 1,
            key_of=_second,
            identity=_version,
        )
        try:
            async for page in paging.pages(self._recent_enough(cursor.org_start)):
                position = page.following if page.following is not None else reached[-1]
                cursor = replace(cursor, org_start=position)
                yield list(page.items), cursor
                if page.following is None or page.following > int(self._now()) - MIN_AGE:
                    return  # Zendesk refuses a start_time under a minute old: resume next run
        except _StartTooRecent:
            return

    async def _users(
        self, cursor: IdentityCursor
    ) -> AsyncIterator[tuple[list[CustomerRecord], IdentityCursor]]:
        """Cursor pages from the stored ``after_cursor`` (or from ``start_time`` at first)."""
        per_page = self._config.per_page

        async def fetch(token: str | None) -> _UserPage:
            params: dict[str, Any] = {"per_page": per_page}
            if token is None:
                params["start_time"] = self._recent_enough(cursor.user_start)
            else:
                params["cursor"] = token
            body = await self._export(USER, params)
            owned = self._identities(body)
            records = self._read(
                (r for r in _rows(body, "users") if _end_user(r)),
                lambda r: user_record(r, owned.get(record_id(r), ()) if owned else ()),
                USER,
            )
            found = body.get("after_cursor")
            after = found if isinstance(found, str) and found else None
            going_on = body.get("end_of_stream") is False and after is not None
            return _UserPage(items=records, following=after if going_on else None, after=after)

        where = Where(self._api.http.connector, "export_users", "Zendesk")
        paging = CursorPaging(fetch, where=where, position="export cursor")
        try:
            async for page in paging.pages(cursor.user_cursor):
                if page.after is not None:
                    cursor = replace(cursor, user_cursor=page.after)
                yield page.items, cursor
        except _StartTooRecent:
            return

    def _identities(self, body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The page's side-loaded identities (``include=identities``) by the user they belong
        to; one that is not an object or names no user is reported as the page's problem
        (its user is read without it)."""
        owned: dict[str, list[dict[str, Any]]] = {}
        rows = _rows(body, "identities")
        for owner, identity in self._read(rows, _owned_identity, "user identity"):
            owned.setdefault(owner, []).append(identity)
        return owned

    async def _export(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """One export page; :class:`_StartTooRecent` when Zendesk finds the start too recent
        (clock skew)."""
        try:
            return await self._api.incremental(kind, params)
        except PermanentError as exc:
            if exc.status == 422 and "too recent start_time" in exc.message.lower():
                raise _StartTooRecent from exc
            raise

    def _recent_enough(self, start: int) -> int:
        return max(0, min(start, int(self._now()) - MIN_AGE))


def _rows(body: dict[str, Any], key: str) -> list[Any]:
    """The page's records as sent: one that is not an object, or has no id, is reported by
    :func:`read_each`, not dropped unseen."""
    rows = body.get(key)
    return rows if isinstance(rows, list) else []


def _end_user(row: Any) -> bool:
    """Whether a user export row is an end-user (agents and admins are left out); a row that
    is not an object is kept, for the reader to report."""
    return not isinstance(row, dict) or row.get("role", "end-user") == "end-user"


def _second(record: CustomerRecord) -> int:
    """The export's ordering key: the record's update second (-1 when it has none)."""
    when = record.updated_at
    return int(when.timestamp()) if isinstance(when, datetime) else -1


def _version(record: CustomerRecord) -> tuple[str, Any]:
    """One version of one record: the same record updated again is news."""
    return (record.ref.id, record.updated_at)


def _owned_identity(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A side-loaded identity with the id of the user it belongs to."""
    return identity_owner(row), row


def _whole(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default
