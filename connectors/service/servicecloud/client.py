"""The Service Cloud REST calls dealbridge makes, on top of the shared ``VendorClient``.

Every API call goes to the org's ``instance_url`` (named by the token answer, FACTS.md 1.1)
under ``/services/data/vXX.X`` (one pinned version, 1.5), through one gate (``max_in_flight``:
Salesforce counts concurrent long requests, 7.2) and the shared Salesforce classifier
(``REQUEST_LIMIT_EXCEEDED``: the spent allocation stops the job, the concurrent limit waits;
7.2, 7.3). ``Sforce-Limit-Info`` (7.1) is read from every answer: once the org's usage passes
the share dealbridge may spend (``1 - api_reserve`` of the allocation), the next call is not
sent and the job waits, as it does for the vendor's own 403.

Queries are GETs, so a query's URI must stay under Salesforce's 16,384 bytes of URI plus
headers (FACTS.md 4.3): :meth:`ServiceCloudApi.fits` tells callers how much fits, and a query
that cannot fit is refused before it is sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from connectors.clock import VirtualClock
from connectors.errors import BudgetExhausted, PermanentError
from connectors.http import VendorClient
from connectors.ratelimit import LimitSignal, Sleep, VendorGate
from connectors.salesforce_common.errors import make_classifier, parse_api_usage, read_limits
from connectors.service.servicecloud.auth import org_login
from connectors.service.servicecloud.config import ServiceCloudConfig
from connectors.settings import ConnectorOptions

URI_BUDGET = 16_384 - 2_048
"""URI bytes a query may take: Salesforce allows 16,384 for URI plus headers (FACTS.md 4.3;
sales-apis section 1); 2,048 are left for the headers (the bearer token is about 110)."""
BUDGET_NAME = "24-hour API allocation"


class ServiceCloudApi:
    """Typed access to the endpoints the target uses, for one org."""

    def __init__(self, name: str, config: ServiceCloudConfig, options: ConnectorOptions) -> None:
        self.name = name
        self.config = config
        self.usage: tuple[int, int] | None = None
        """``(used, max)`` from the last ``Sforce-Limit-Info``."""
        virtual = VirtualClock(options.sleep)
        clock: Callable[[], float] = virtual.now if virtual.is_virtual else time.monotonic
        sleeper: Sleep = virtual.sleep if virtual.is_virtual else asyncio.sleep
        self.gate = VendorGate(
            # this process's part when worker processes write to the org together
            rate_per_second=_part(config.rate_per_second, options.budget_share),
            max_in_flight=config.max_in_flight,
            clock=clock,
            sleep=sleeper,
        )
        self._login = org_login(name, config, transport=options.transport, sleep=options.sleep)
        self.http = VendorClient(
            connector=name,
            base_url=config.base_url,
            auth=self._login.auth,
            classify=make_classifier(config.throttle_retry_after, config.daily_limit_recheck),
            read_limits=self._read_limits,
            gate=self.gate,
            transport=options.transport,
            timeout=config.timeout,
            headers={"Accept": "application/json"},
            sleep=virtual.sleep if virtual.is_virtual else None,
        )

    @property
    def requests_sent(self) -> int:
        """Requests sent so far: API and token endpoint, retries included."""
        return self.http.stats.total + self._login.token_client.stats.total

    @property
    def flow(self) -> str:
        """The login flow, for messages."""
        return self._login.login.flow

    def path(self, rest: str) -> str:
        """``/services/data/v61.0`` + ``rest``."""
        return f"{self.config.api_root}{rest}"

    def fits(self, soql: str) -> bool:
        """Whether a query's URI stays within Salesforce's limit."""
        return len(self.path("/queryAll?q=")) + len(quote(soql, safe="")) <= URI_BUDGET

    async def query(
        self, soql: str, operation: str, *, deleted: bool = False, batch: int | None = None
    ) -> AsyncIterator[list[Any]]:
        """Every batch of a query (``queryAll`` with ``deleted``), following ``nextRecordsUrl``
        until ``done`` (FACTS.md 4.1). Rows come as sent: one that is not an object is kept
        for the record reader to report (``read_each``: the desk, the kind, its position in
        the batch), not dropped; a caller that reads no records keeps the objects."""
        if not self.fits(soql):
            raise PermanentError(
                f"a query of {len(soql)} characters does not fit Salesforce's 16,384-byte URI "
                "limit: list fewer API names under the connector's fields:",
                who_acts="admin",
                connector=self.name,
                operation=operation,
            )
        headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else None
        resource = "/queryAll" if deleted else "/query"
        body = await self._object("GET", self.path(resource), operation, {"q": soql}, headers)
        seen: set[str] = set()
        while True:
            rows = body.get("records")
            yield rows if isinstance(rows, list) else []
            following = body.get("nextRecordsUrl")
            if body.get("done", True) is True or not isinstance(following, str) or not following:
                return
            if following in seen:
                return  # a locator repeated would loop forever: treat it as the end
            seen.add(following)
            body = await self._object("GET", following, operation, None, headers)

    async def query_rows(self, soql: str, operation: str) -> list[Any]:
        """Every row of a (small) query, as sent (see :meth:`query`)."""
        return [row async for batch in self.query(soql, operation) for row in batch]

    async def describe(self, sobject: str) -> dict[str, Any]:
        """``GET /sobjects/{sobject}/describe`` (FACTS.md 3.1)."""
        return await self._object(
            "GET", self.path(f"/sobjects/{sobject}/describe"), f"describe {sobject}", None, None
        )

    async def update_collection(self, records: Sequence[Mapping[str, Any]]) -> list[Any]:
        """``PATCH /composite/sobjects`` with ``allOrNone: false`` (FACTS.md 5.1): one
        SaveResult per record, in order. Sending the same values again leaves the same record,
        so a call lost on the way back may be retried."""
        body = {"allOrNone": False, "records": [dict(r) for r in records]}
        return await self._list("PATCH", self.path("/composite/sobjects"), "update records", body)

    async def upsert_collection(
        self, sobject: str, key_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[Any]:
        """``PATCH /composite/sobjects/{sobject}/{key_field}`` (FACTS.md 5.5): upserts by an
        external id, so repeating it finds the record the first attempt created."""
        path = self.path(f"/composite/sobjects/{sobject}/{key_field}")
        body = {"allOrNone": False, "records": [dict(r) for r in records]}
        return await self._list("PATCH", path, f"upsert {sobject}", body)

    async def create(self, sobject: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /sobjects/{sobject}`` (FACTS.md 5.7); not repeated unless it was never sent."""
        operation = f"create {sobject}"
        self._within_share(operation)
        url = await self._url(self.path(f"/sobjects/{sobject}"))
        response = await self.http.request("POST", url, operation=operation, json=dict(values))
        body = self.http.decode(response, operation)
        return body if isinstance(body, dict) else {}

    async def aclose(self) -> None:
        """Close both clients."""
        await self.http.aclose()
        await self._login.token_client.aclose()

    def usage_text(self) -> str | None:
        """``"18/100000 API requests used (rolling 24 h)"``, from the last answer."""
        if self.usage is None:
            return None
        return f"{self.usage[0]}/{self.usage[1]} API requests used (rolling 24 h)"

    # -- internals --------------------------------------------------------------------------
    async def _object(
        self,
        method: str,
        path: str,
        operation: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        self._within_share(operation)
        url = await self._url(path)
        response = await self.http.request(
            method, url, operation=operation, params=params, headers=headers
        )
        return self.http.decode_object(response, operation, "Salesforce")

    async def _list(self, method: str, path: str, operation: str, body: Any) -> list[Any]:
        self._within_share(operation)
        url = await self._url(path)
        response = await self.http.request(
            method, url, operation=operation, json=body, idempotent=True
        )
        answer = self.http.decode(response, operation)
        if not isinstance(answer, list):
            raise PermanentError(
                f"Salesforce answered {type(answer).__name__} where a result list was expected",
                connector=self.name,
                operation=operation,
            )
        return answer

    async def _url(self, path: str) -> str:
        if path.startswith(("https://", "http://")):
            return path
        session = await self._login.login.session()
        return f"{session.instance_url}{path}"

    def _within_share(self, operation: str) -> None:
        """Refuse to spend the part of the org's allocation left to others (``api_reserve``)."""
        reserve = self.config.api_reserve
        if self.usage is None or reserve <= 0:
            return
        used, limit = self.usage
        if used < limit * (1 - reserve):
            return
        until = datetime.now(UTC) + timedelta(seconds=self.config.daily_limit_recheck)
        raise BudgetExhausted(
            f"dealbridge's share of the org's 24-hour API allocation is spent (api-usage "
            f"{used}/{limit}; {reserve:.0%} is left to the org's other users by api_reserve); "
            "capacity returns as calls older than 24 hours age out of the window",
            until=until,
            exact=False,
            budget=BUDGET_NAME,
            connector=self.name,
            operation=operation,
        )

    def _read_limits(self, response: httpx.Response) -> LimitSignal:
        usage = parse_api_usage(response.headers.get("sforce-limit-info"))
        if usage is not None:
            self.usage = usage
        return read_limits(response)


def _part(rate: float | None, share: float) -> float | None:
    """This process's part of a configured rate (None: paced by the org's headers alone)."""
    return None if rate is None else rate * share
