"""The Intercom REST calls dealbridge makes, on top of the shared ``VendorClient``.

Every request carries the bearer token (``auth``), ``Intercom-Version`` (the configured
version, FACTS.md §1.3) and ``Accept: application/json``, and passes the 10-second window gate
(``pacing``). Answers that are not the JSON object the operation documents are refused here,
so the modules above handle dictionaries; the rows of a list answer come as sent (one that is
not an object is the record reader's to report).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from connectors.errors import RecordError
from connectors.http import VendorClient
from connectors.service.intercom.auth import token_auth
from connectors.service.intercom.config import IntercomConfig
from connectors.service.intercom.errors import SCROLL_PATH, classify, read_limits
from connectors.service.intercom.pacing import Pacing
from connectors.service.intercom.payloads import PLURAL
from connectors.settings import ConnectorOptions

SEARCH_PATH = "/contacts/search"


@dataclass(frozen=True)
class Page:
    """One page of a list answer: its items, the cursor to the next page, Intercom's time."""

    rows: list[Any]
    """As sent: a row that is not an object is kept for the record reader to report
    (``read_each``: the desk, the kind, its position in the page), not dropped."""
    following: str | None
    vendor_time: float | None
    """Unix time of the answer's ``Date`` header (None without one)."""


class IntercomApi:
    """Typed access to the endpoints the target uses."""

    def __init__(
        self, name: str, config: IntercomConfig, options: ConnectorOptions, pacing: Pacing
    ) -> None:
        self.pacing = pacing
        version = {"Intercom-Version": config.intercom_version}
        self.http = VendorClient.for_json_api(
            name,
            config,
            options,
            pacing,
            auth=token_auth(config),
            classify=classify,
            read_limits=read_limits,
            headers=version,
        )

    # -- records ---------------------------------------------------------------------------

    async def get_record(self, kind: str, record_id: str) -> dict[str, Any] | None:
        """``GET /companies/{id}`` or ``GET /contacts/{id}``; None when Intercom says 404."""
        return await self._get_or_none(f"/{PLURAL[kind]}/{_segment(record_id)}", f"read_{kind}")

    async def put_record(
        self, kind: str, record_id: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``PUT /companies/{id}`` (Intercom's id: never creates, FACTS.md §4.3) or
        ``PUT /contacts/{id}`` (§5.5); the answer is the stored record."""
        operation = f"update_{kind}"
        response = await self.http.request(
            "PUT", f"/{PLURAL[kind]}/{_segment(record_id)}", operation=operation, json=dict(body)
        )
        return self._object(response, operation)

    async def companies_by_company_id(self, company_id: str) -> list[Any]:
        """``GET /companies?company_id=`` (§4.4): the company carrying it, read from the record."""
        try:
            body = await self.http.get_json(
                "/companies", operation="lookup_companies", params={"company_id": company_id}
            )
        except RecordError as exc:
            if exc.status == 404:
                return []
            raise
        if isinstance(body, dict) and body.get("type") == "company":
            return [body]  # older versions answered the bare company (§4.4, unverified)
        return _items(body, "data")

    async def contact_by_external_id(self, external_id: str) -> dict[str, Any] | None:
        """``GET /contacts/find_by_external_id/{id}`` (§5.2: users only); None when absent."""
        path = f"/contacts/find_by_external_id/{_segment(external_id)}"
        return await self._get_or_none(path, "lookup_contacts")

    # -- listings ----------------------------------------------------------------------------

    async def scroll_companies(self, scroll_param: str | None) -> tuple[Page, str | None]:
        """One page of ``GET /companies/scroll`` (§4.7) and the parameter for the next one."""
        params = {"scroll_param": scroll_param} if scroll_param else None
        response = await self.http.request(
            "GET", SCROLL_PATH, operation="scroll_companies", params=params
        )
        body = self._object(response, "scroll_companies")
        following = body.get("scroll_param")
        page = Page(_items(body, "data"), None, _vendor_time(response))
        return page, following if isinstance(following, str) and following else None

    async def search_contacts(
        self, query: Mapping[str, Any], per_page: int, starting_after: str | None
    ) -> Page:
        """One page of ``POST /contacts/search`` (§5.3); the cursor travels in the body."""
        pagination: dict[str, Any] = {"per_page": per_page}
        if starting_after:
            pagination["starting_after"] = starting_after
        response = await self.http.request(
            "POST",
            SEARCH_PATH,
            operation="search_contacts",
            json={"query": dict(query), "pagination": pagination},
            idempotent=True,  # a search changes nothing: safe to send again
            changes=False,
        )
        body = self._object(response, "search_contacts")
        pages = body.get("pages")
        following = None
        if isinstance(pages, dict) and isinstance(pages.get("next"), dict):
            cursor = pages["next"].get("starting_after")
            following = cursor if isinstance(cursor, str) and cursor else None
        return Page(_items(body, "data"), following, _vendor_time(response))

    # -- notes, catalog, identity of the token -------------------------------------------------

    async def contact_notes(self, contact_id: str) -> list[Any] | None:
        """``GET /contacts/{id}/notes`` (§7.1), as sent; None when the contact is gone."""
        body = await self._get_or_none(f"/contacts/{_segment(contact_id)}/notes", "read_notes")
        return None if body is None else _items(body, "data")

    async def add_contact_note(self, contact_id: str, body: str, admin_id: str) -> dict[str, Any]:
        """``POST /contacts/{id}/notes`` (§7.1): a new note; notes are never edited (§7.2)."""
        response = await self.http.request(
            "POST",
            f"/contacts/{_segment(contact_id)}/notes",
            operation="add_note",
            json={"body": body, "admin_id": admin_id},
        )
        return self._object(response, "add_note")

    async def data_attributes(self, kind: str) -> dict[str, Any]:
        """``GET /data_attributes?model=`` (§6.1): live (not archived) attributes of a kind."""
        response = await self.http.request(
            "GET", "/data_attributes", operation="data_attributes", params={"model": kind}
        )
        return self._object(response, "data_attributes")

    async def me(self) -> dict[str, Any]:
        """``GET /me``: the admin the token belongs to (proves the token in one call)."""
        response = await self.http.request("GET", "/me", operation="check")
        return self._object(response, "check")

    # -- tickets (alerts) ------------------------------------------------------------------

    async def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        operation: str,
        idempotent: bool = False,
        changes: bool = True,
    ) -> dict[str, Any]:
        """A JSON POST whose answer is an object (``changes=False``: a search)."""
        response = await self.http.request(
            "POST",
            path,
            operation=operation,
            json=dict(body),
            idempotent=idempotent,
            changes=changes,
        )
        return self._object(response, operation)

    async def get(self, path: str, *, operation: str) -> dict[str, Any] | None:
        """A GET of one object; None when Intercom says 404."""
        return await self._get_or_none(path, operation)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self.http.aclose()

    async def _get_or_none(self, path: str, operation: str) -> dict[str, Any] | None:
        try:
            response = await self.http.request("GET", path, operation=operation)
        except RecordError as exc:
            if exc.status == 404:
                return None
            raise
        return self._object(response, operation)

    def _object(self, response: httpx.Response, operation: str) -> dict[str, Any]:
        return self.http.decode_object(response, operation, "Intercom")


def _items(body: Any, key: str) -> list[Any]:
    """A list answer's rows as sent: one that is not an object, or has no id, is kept for
    ``read_each`` to report."""
    rows = body.get(key) if isinstance(body, dict) else None
    return rows if isinstance(rows, list) else []


def _segment(value: str) -> str:
    """A path segment: ids and external ids may hold ``/``, spaces or ``?``."""
    return quote(value, safe="")


def _vendor_time(response: httpx.Response) -> float | None:
    raw = response.headers.get("date")
    if not raw:
        return None
    try:
        return float(parsedate_to_datetime(raw).timestamp())
    except (TypeError, ValueError):
        return None
