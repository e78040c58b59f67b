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

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from connectors.base import Cursor, CustomerPage, CustomerRecord
from connectors.errors import PermanentError
from connectors.service.zendesk.client import ZendeskApi
from connectors.service.zendesk.config import ZendeskConfig
from connectors.service.zendesk.payloads import (
    ORGANIZATION,
    USER,
    organization_record,
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
        return Cursor(value=json.dumps(payload, sort_keys=True))

    @classmethod
    def decode(cls, cursor: Cursor | None) -> IdentityCursor:
        """Read a stored cursor; anything unreadable means "export everything again"."""
        try:
            payload = json.loads(cursor.value) if cursor else {}
        except ValueError:
            payload = {}
        payload = payload if isinstance(payload, dict) else {}
        orgs, users = payload.get(ORGANIZATION), payload.get(USER)
        orgs = orgs if isinstance(orgs, dict) else {}
        users = users if isinstance(users, dict) else {}
        user_cursor = users.get("cursor")
        return cls(
            org_start=_whole(orgs.get("start_time")),
            user_start=_whole(users.get("start_time")),
            user_cursor=user_cursor if isinstance(user_cursor, str) and user_cursor else None,
        )


@dataclass
class _Seen:
    """Records yielded at the edge of the last page. Time-based pages overlap at ``end_time``
    (the next page starts there), so only records updated at or after it can come again;
    older ones are forgotten, and memory stays a page's worth however large the desk."""

    versions: dict[str, Any] = field(default_factory=dict)

    def fresh(self, records: list[CustomerRecord], edge: int) -> list[CustomerRecord]:
        kept = []
        for record in records:
            if self.versions.get(record.ref.id, object()) != record.updated_at:
                self.versions[record.ref.id] = record.updated_at
                kept.append(record)
        self.versions = {
            key: when
            for key, when in self.versions.items()
            if isinstance(when, datetime) and when.timestamp() >= edge
        }
        return kept


class IdentityFeed:
    """Reads changed organizations and users for ``customers(since)``."""

    def __init__(
        self, api: ZendeskApi, config: ZendeskConfig, now: Callable[[], float] = time.time
    ) -> None:
        self._api = api
        self._config = config
        self._now = now

    async def pages(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        """Organization pages, then user pages, each with a checkpoint safe to store."""
        position = IdentityCursor.decode(since)
        if ORGANIZATION in self._config.record_kinds:
            async for records, position in self._organizations(position):  # noqa: B020
                yield CustomerPage(records=tuple(records), checkpoint=position.encode())
        if USER in self._config.record_kinds:
            async for records, position in self._users(position):  # noqa: B020
                yield CustomerPage(records=tuple(records), checkpoint=position.encode())

    async def _organizations(
        self, cursor: IdentityCursor
    ) -> AsyncIterator[tuple[list[CustomerRecord], IdentityCursor]]:
        start, seen = self._recent_enough(cursor.org_start), _Seen()
        while True:
            params = {"start_time": start, "per_page": self._config.per_page}
            body = await self._export(ORGANIZATION, params)
            if body is None:
                return
            rows = _rows(body, "organizations")
            end = _whole(body.get("end_time"), default=start)
            records = seen.fresh([organization_record(r) for r in rows], edge=end)
            cursor = replace(cursor, org_start=max(start, end))
            yield records, cursor
            if body.get("end_of_stream") is not False or end <= start:
                return  # end <= start: no progress possible, the next run resumes here
            if end > int(self._now()) - MIN_AGE:
                return  # Zendesk refuses a start_time under a minute old: resume next run
            start = end

    async def _users(
        self, cursor: IdentityCursor
    ) -> AsyncIterator[tuple[list[CustomerRecord], IdentityCursor]]:
        params: dict[str, Any] = {"per_page": self._config.per_page}
        if cursor.user_cursor:
            params["cursor"] = cursor.user_cursor
        else:
            params["start_time"] = self._recent_enough(cursor.user_start)
        while True:
            body = await self._export(USER, params)
            if body is None:
                return
            identities = body.get("identities")
            records = [
                user_record(r, _identities_of(r, identities))
                for r in _rows(body, "users")
                if r.get("role", "end-user") == "end-user"
            ]
            after = body.get("after_cursor")
            if isinstance(after, str) and after:
                cursor = replace(cursor, user_cursor=after)
            yield records, cursor
            if body.get("end_of_stream") is not False or not isinstance(after, str) or not after:
                return
            params = {"per_page": self._config.per_page, "cursor": after}

    async def _export(self, kind: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """One export page, or None when Zendesk finds the start too recent (clock skew)."""
        try:
            return await self._api.incremental(kind, params)
        except PermanentError as exc:
            if exc.status == 422 and "too recent start_time" in exc.message.lower():
                return None
            raise

    def _recent_enough(self, start: int) -> int:
        return max(0, min(start, int(self._now()) - MIN_AGE))


def _rows(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    rows = body.get(key)
    if not isinstance(rows, list):
        return []
    return [r for r in rows if isinstance(r, dict) and r.get("id") is not None]


def _identities_of(user: dict[str, Any], identities: Any) -> list[Any]:
    """Side-loaded identities (``include=identities``) belonging to this user, if any."""
    if not isinstance(identities, list):
        return []
    return [i for i in identities if isinstance(i, dict) and i.get("user_id") == user.get("id")]


def _whole(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default
