"""Direct lookups for identity-index misses: organizations and end-users by the keys deals carry.

The identity index is built from incremental exports, which leave out everything created or
changed within the minute before each request [doc: developer.zendesk.com "Using the
Incremental Export API"]; a record that young is found here instead:

* external ids: ``GET /api/v2/{organizations|users}/show_many.json?external_ids=a,b``, 100 a
  call, case-insensitive [doc: Show Many Organizations / Show Many Users]. These read the
  records themselves, so a record created a second ago is found.
* user emails: ``GET /api/v2/users/search.json?query=email:<address>``, one call per address;
* organization domains: ``GET /api/v2/search.json?query=type:organization domain:<domain>``,
  one call per domain [3p: the ``domain:`` keyword is used by activepieces' Zendesk piece;
  unconfirmed in Zendesk's search reference].

Search answers come from Zendesk's search index, which "can take up to a few minutes" to see new
or changed records [doc: Search API]; their hits are therefore read again through
``show_many?ids=`` (100 a call) so that the identity values returned are the records' current
ones, and a record younger than the search lag is found only once indexed (the export finds it
a minute after its change either way). An external id holding a comma cannot travel in a comma
list; it is asked through ``organizations/search?external_id=`` / ``users/search?external_id=``
(exact match, one call each). Keys a kind cannot carry (organizations have no emails, users no
domains) cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import structlog

from connectors.base import CustomerRecord, IdentityKey
from connectors.desk import wanted_keys
from connectors.errors import PermanentError
from connectors.record_values import RecordProblem, read_each
from connectors.service.zendesk.client import SHOW_MANY_MAX, ZendeskApi
from connectors.service.zendesk.payloads import (
    KINDS,
    ORGANIZATION,
    PLURAL,
    USER,
    organization_record,
    record_id,
    user_record,
)

log = structlog.get_logger("dealbridge.zendesk")

SEARCHED = {(USER, "email"), (ORGANIZATION, "domain")}
"""(kind, match) pairs only the search API can answer."""


class Lookup:
    """Answers ``ZendeskTarget.lookup``."""

    def __init__(self, api: ZendeskApi) -> None:
        self._api = api

    async def records(
        self, keys: Sequence[IdentityKey], problems: list[RecordProblem]
    ) -> list[CustomerRecord]:
        """Live customer records carrying any of ``keys`` (each record once)."""
        wanted = wanted_keys(keys, _askable)
        rows: dict[tuple[str, str], Any] = {}
        for (kind, match), values in sorted(wanted.items()):
            found = (
                await self._by_external_id(kind, values)
                if match == "external_id"
                else await self._searched(kind, match, values, problems)
            )
            rows.update({(kind, _key(row, n)): row for n, row in enumerate(found)})
        records: list[CustomerRecord | None] = []
        for kind in KINDS:
            of_kind = (row for (each, _), row in rows.items() if each == kind)
            reader = partial(_record, kind)
            records += read_each(of_kind, reader, desk="Zendesk", kind=kind, problems=problems)
        return [r for r in records if r is not None]

    async def _by_external_id(self, kind: str, values: list[str]) -> list[Any]:
        listable = [v for v in values if "," not in v]
        found: list[Any] = []
        for start in range(0, len(listable), SHOW_MANY_MAX):
            found += await self._api.show_many_external(
                kind, listable[start : start + SHOW_MANY_MAX]
            )
        for value in (v for v in values if "," in v):
            path = f"/api/v2/{PLURAL[kind]}/search.json"
            found += await self._exact(path, kind, value)
        return found

    async def _exact(self, path: str, kind: str, value: str) -> list[Any]:
        body = await self._api.http.get_json(
            path, operation=f"lookup_{PLURAL[kind]}", params={"external_id": value}
        )
        rows = body.get(PLURAL[kind]) if isinstance(body, dict) else None
        return rows if isinstance(rows, list) else []  # read_each reports a non-object

    async def _searched(
        self, kind: str, match: str, values: list[str], problems: list[RecordProblem]
    ) -> list[Any]:
        ids: list[str] = []
        for value in values:
            if not _searchable(value):
                continue  # a value with spaces or quotes is no email or domain a record has
            try:
                hits = await self._search(kind, match, value)
            except PermanentError as exc:
                # Zendesk refusing one query (422) says that value is not searchable, which a
                # real address or domain is; the other keys still get their answer.
                log.warning("zendesk_lookup_refused", kind=kind, match=match, error=str(exc))
                continue
            # a hit of the kind asked (unified search mixes result types) that is not an
            # object, or names no id, cannot be read again: it is reported, not passed over
            of_kind = [h for h in hits if not isinstance(h, dict) or _is(kind, h)]
            ids += read_each(of_kind, record_id, desk="Zendesk", kind=kind, problems=problems)
        current: list[Any] = []
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), SHOW_MANY_MAX):
            current += await self._api.show_many(kind, unique[start : start + SHOW_MANY_MAX])
        return current

    async def _search(self, kind: str, match: str, value: str) -> list[Any]:
        if kind == USER:
            query = f"email:{value}"
            return await self._api.search(
                "/api/v2/users/search.json", query, "users", "lookup_users"
            )
        query = f"type:organization {match}:{value}"
        return await self._api.search(
            "/api/v2/search.json", query, "results", "lookup_organizations"
        )


def _searchable(value: str) -> bool:
    return bool(value) and not any(c.isspace() or c in "\"'()" for c in value)


def _is(kind: str, hit: dict[str, Any]) -> bool:
    """Unified search mixes result types; keep the kind asked for."""
    result_type = hit.get("result_type")
    return result_type is None or result_type == kind


def _key(row: Any, position: int) -> str:
    """A row's id, or its position (``#n``) when its id is not one (it is reported when
    read)."""
    try:
        return record_id(row) if isinstance(row, dict) else f"#{position}"
    except ValueError:
        return f"#{position}"


def _record(kind: str, row: dict[str, Any]) -> CustomerRecord | None:
    """A live customer record (deleted organizations, inactive users and staff are left out)."""
    if kind == USER and row.get("role", "end-user") != "end-user":
        return None
    record = organization_record(row) if kind == ORGANIZATION else user_record(row)
    return None if record.deleted else record


def _askable(key: IdentityKey) -> bool:
    """External ids of both kinds, and the (kind, match) pairs search can find."""
    return key.kind in PLURAL and (key.match == "external_id" or (key.kind, key.match) in SEARCHED)
