"""One Pipedrive HTTP client per connector: auth, host, pacing, token accounting, envelopes.

Composes :class:`connectors.http.VendorClient` (retries with Retry-After, typed errors) with a
:class:`connectors.ratelimit.VendorGate` paced as the plan's burst window (a sliding 2-second
window, FACTS.md §7.3) and fed by the ``x-ratelimit-*`` headers (§7.4), and a
:class:`~connectors.sales.pipedrive.limits.TokenLedger` charged before every call (§7.2).

The host is ``base_url`` for an API token and the token answer's ``api_domain`` for OAuth
(§1.1). v1 lives under ``/v1`` on api.pipedrive.com and under ``/api/v1`` on a company host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connectors.clock import VirtualClock
from connectors.errors import TransientError
from connectors.http import VendorClient
from connectors.ratelimit import VendorGate, Window
from connectors.record_values import as_utc
from connectors.sales.pipedrive.auth import OAuthBearer, OAuthGrant, api_token_auth
from connectors.sales.pipedrive.config import DEFAULT_API_HOST, OAuthAuth, PipedriveConfig
from connectors.sales.pipedrive.errors import Classifier, classify_token, read_limits
from connectors.sales.pipedrive.limits import BURST_WINDOW_SECONDS, TokenLedger, burst_limit
from connectors.settings import ConnectorOptions

WINDOW_MARGIN_SECONDS = 0.25
"""Widen the 2-second window a little for latency between our send and Pipedrive's count."""


class PipedriveClient:
    """GETs JSON envelopes from one Pipedrive company."""

    def __init__(
        self,
        name: str,
        config: PipedriveConfig,
        options: ConnectorOptions,
        *,
        now: Callable[[], datetime],
    ) -> None:
        self.config = config
        self.timing = VirtualClock(options.sleep)
        self.ledger = TokenLedger(cap=config.max_tokens_per_day, now=now)
        self.classify = Classifier(now)
        self.grant: OAuthGrant | None = None
        self.server_time: datetime | None = None
        """The ``Date`` of the last API answer: Pipedrive's own clock (None if it sent none)."""
        self._clients: list[VendorClient] = []
        auth: httpx.Auth
        if isinstance(config.auth, OAuthAuth):
            token_client = self._vendor_client(
                name, options, None, classify_token, self._gate(rate=1.0)
            )
            self.grant = OAuthGrant(token_client, config.auth, clock=self.timing.now)
            auth = OAuthBearer(self.grant)
        else:
            auth = api_token_auth(config.auth)
        self.api = self._vendor_client(name, options, auth, self.classify, self._burst_gate())

    @property
    def requests_sent(self) -> int:
        """Requests sent so far (API and token endpoint, retries included)."""
        return sum(c.stats.total for c in self._clients)

    async def aclose(self) -> None:
        """Close every pooled connection."""
        for client in self._clients:
            await client.aclose()

    async def host(self) -> str:
        """The company host every API call goes to."""
        if self.grant is not None:
            domain = await self.grant.host()
            if domain:
                return domain
        return self.config.base_url

    async def v1_root(self) -> str:
        """Where v1 endpoints live on the host in use."""
        host = await self.host()
        return f"{host}/v1" if host == DEFAULT_API_HOST else f"{host}/api/v1"

    async def get(
        self,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        endpoint: str | None = None,
        v1: bool = False,
    ) -> dict[str, Any]:
        """GET one envelope; ``endpoint`` names the token cost (default: ``path``)."""
        root = await self.v1_root() if v1 else await self.host()
        self.ledger.charge(endpoint or path)
        response = await self.api.request(
            "GET", f"{root}{path}", operation=operation, params=params
        )
        self.server_time = _date(response.headers.get("date"))
        body = self.api.decode(response, operation)
        if not isinstance(body, dict) or body.get("success") is False:
            raise TransientError(
                f"Pipedrive answered 200 without a successful envelope: {str(body)[:120]}",
                operation=operation,
            )
        return body

    def burst_usage(self) -> str | None:
        """``"19/20 requests left in the 2-second window"`` from the last response's headers."""
        signal = self.api.gate.last_signal
        if signal.remaining is None or signal.limit is None:
            return None
        return f"{signal.remaining}/{signal.limit} requests left in the 2-second burst window"

    def _burst_gate(self) -> VendorGate:
        if self.config.rate_per_second is not None:
            return self._gate(rate=self.config.rate_per_second)
        limit = burst_limit(self.config.plan, oauth=self.config.uses_oauth)
        window = Window(limit, seconds=BURST_WINDOW_SECONDS, margin=WINDOW_MARGIN_SECONDS)
        return VendorGate(
            window=window,
            max_in_flight=self.config.max_in_flight,
            clock=self.timing.now,
            sleep=self.timing.sleep,
        )

    def _gate(self, *, rate: float) -> VendorGate:
        return VendorGate(
            rate_per_second=rate,
            burst=max(1, int(rate)),
            max_in_flight=self.config.max_in_flight,
            clock=self.timing.now,
            sleep=self.timing.sleep,
        )

    def _vendor_client(
        self,
        name: str,
        options: ConnectorOptions,
        auth: httpx.Auth | None,
        classify: Callable[[httpx.Response], Any],
        gate: VendorGate,
    ) -> VendorClient:
        client = VendorClient(
            connector=name,
            base_url=self.config.base_url,
            auth=auth,
            classify=classify,
            read_limits=read_limits,
            gate=gate,
            transport=options.transport,
            timeout=self.config.timeout,
            headers={"Accept": "application/json"},
            sleep=self.timing.sleep if options.sleep is not None else None,
        )
        self._clients.append(client)
        return client


def _date(header: str | None) -> datetime | None:
    """An HTTP ``Date`` header as an aware UTC datetime (None when absent or unreadable)."""
    if not header:
        return None
    try:
        moment = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return as_utc(moment)
