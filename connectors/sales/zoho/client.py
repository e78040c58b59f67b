"""The Zoho CRM calls the source makes, on the shared ``VendorClient``.

Every API call goes to the ``api_domain`` of the current token (FACTS.md §1.2) under
``/crm/v8``, passes the gate (requests in flight capped at the edition's concurrency limit,
§8.2; a vendor back-off holds every caller), checks the credit reserve first (§8.4), and is
classified by :mod:`.errors`. Empty answers are 204 (nothing matched) and 304 (nothing modified
since ``If-Modified-Since``): both come back as None (§3.3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.clock import VirtualClock
from connectors.http import RequestStats, VendorClient
from connectors.ratelimit import VendorGate
from connectors.sales.zoho.auth import ZohoAuth, ZohoTokens
from connectors.sales.zoho.config import ZohoConfig
from connectors.sales.zoho.errors import CreditMeter, classify_token, make_classifier
from connectors.settings import ConnectorOptions

IDS_PER_CALL = 100
"""``GET /{module}?ids=`` takes several ids; 100 per call [unverified maximum, FACTS.md §7.1]."""
EMPTY_STATUSES = (204, 304)


class ZohoApi:
    """Typed access to the endpoints the source uses, for one connector instance."""

    def __init__(
        self,
        name: str,
        config: ZohoConfig,
        options: ConnectorOptions,
        *,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.timing = VirtualClock(options.sleep)
        self.meter = CreditMeter(
            reserve=config.credit_reserve,
            throttle_wait=config.throttle_wait,
            wall_clock=wall_clock,
        )
        self.token_http = VendorClient(
            connector=name,
            base_url=config.base_url,
            classify=classify_token,
            gate=self._gate(options, 2),
            transport=options.transport,
            timeout=config.timeout,
            headers={"Accept": "application/json"},
            sleep=self.timing.sleep if options.sleep else None,
        )
        self.tokens = ZohoTokens(config, self.token_http, clock=self.timing.now)
        self.http = VendorClient(
            connector=name,
            base_url=config.base_url,
            auth=ZohoAuth(self.tokens),
            classify=make_classifier(self.meter, self.tokens.diagnose),
            read_limits=self.meter.observe,
            gate=self._gate(options, config.concurrency),
            transport=options.transport,
            timeout=config.timeout,
            headers={"Accept": "application/json"},
            sleep=self.timing.sleep if options.sleep else None,
        )

    @property
    def stats(self) -> tuple[RequestStats, RequestStats]:
        """Request counts of the API and the token endpoint."""
        return self.http.stats, self.token_http.stats

    async def get(
        self,
        path: str,
        operation: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """GET ``{api_domain}/crm/v8{path}``: the JSON object, or None for 204/304."""
        url = await self._url(path)
        self.meter.check_reserve()
        response = await self.http.request(
            "GET", url, operation=operation, params=params, headers=headers
        )
        if response.status_code in EMPTY_STATUSES or not response.content:
            return None
        body = self.http.decode(response, operation)
        return body if isinstance(body, dict) else {}

    async def coql(self, query: str, operation: str) -> dict[str, Any] | None:
        """``POST /crm/v8/coql`` (a read: safe to repeat); None when nothing matched."""
        url = await self._url("/coql")
        self.meter.check_reserve()
        response = await self.http.request(
            "POST", url, operation=operation, json={"select_query": query}, idempotent=True
        )
        if response.status_code in EMPTY_STATUSES or not response.content:
            return None
        body = self.http.decode(response, operation)
        return body if isinstance(body, dict) else {}

    async def fields(self, module: str) -> dict[str, Any]:
        """``GET /settings/fields?module=<module>``: the module's fields metadata (§6.1)."""
        body = await self.get("/settings/fields", f"fields of {module}", params={"module": module})
        return body or {}

    async def records_by_id(
        self, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """``GET /{module}?ids=...&fields=...``, 100 ids a call; ids Zoho lacks are left out."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), IDS_PER_CALL):
            chunk = unique[start : start + IDS_PER_CALL]
            params = {"ids": ",".join(chunk), "fields": ",".join(fields)}
            body = await self.get(f"/{module}", f"read {module}", params=params)
            for record in (body or {}).get("data") or []:
                if isinstance(record, dict) and record.get("id") is not None:
                    found[str(record["id"])] = record
        return found

    async def aclose(self) -> None:
        """Close both clients."""
        await self.http.aclose()
        await self.token_http.aclose()

    async def _url(self, path: str) -> str:
        session = await self.tokens.current()
        return f"{session.api_domain}{self.config.api_root}{path}"

    def _gate(self, options: ConnectorOptions, in_flight: int) -> VendorGate:
        return VendorGate(
            rate_per_second=self.config.rate_per_second,
            max_in_flight=in_flight,
            clock=self.timing.now,
            sleep=self.timing.sleep if options.sleep else asyncio.sleep,
        )
