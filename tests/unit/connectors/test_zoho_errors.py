"""Zoho CRM source: each error body classified, retries, and the two kinds of 429 (respx)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from connectors.base import DealQuery
from connectors.errors import (
    AuthError,
    BudgetExhausted,
    PermanentError,
    TransientError,
)
from connectors.sales.zoho import ZohoSource
from tests.fixtures.zoho.support import (
    COQL,
    FIELDS,
    Sleeps,
    load,
    mock_fields,
    mock_token,
    source,
    use_env,
)

pytestmark = pytest.mark.anyio

QUERY = DealQuery(fields=("Deal_Name",))
TOO_MANY = load("error_too_many_requests.json")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch)


@pytest.fixture
def zoho() -> Any:
    with respx.mock(assert_all_called=False) as router:
        mock_token(router)
        mock_fields(router)
        yield router


async def read(src: ZohoSource) -> None:
    async for _page in src.changed_deals(QUERY, None):
        pass


@pytest.mark.parametrize(
    ("fixture", "status", "kind", "who", "hint"),
    [
        ("error_invalid_query.json", 400, PermanentError, "admin", "field API names"),
        ("error_syntax.json", 400, PermanentError, "admin", "mapping's select"),
        ("error_invalid_module.json", 400, PermanentError, "admin", "module"),
        ("error_limit_exceeded.json", 400, PermanentError, "developer", "fields exceeds"),
        ("error_oauth_scope_mismatch.json", 401, AuthError, "admin", "ZohoCRM.coql.READ"),
        ("error_no_permission.json", 403, AuthError, "admin", "read access"),
    ],
)
async def test_each_error_body_says_who_acts(
    zoho: Any, fixture: str, status: int, kind: type[Exception], who: str, hint: str
) -> None:
    zoho.post(COQL).mock(return_value=httpx.Response(status, json=load(fixture)))
    with pytest.raises(PermanentError) as caught:
        await read(source())
    assert type(caught.value) is kind
    assert caught.value.who_acts == who
    assert caught.value.vendor_code == load(fixture)["code"]
    assert hint in str(caught.value)


async def test_internal_errors_and_bad_gateways_are_retried(zoho: Any) -> None:
    sleeps = Sleeps()
    route = zoho.post(COQL).mock(
        side_effect=[
            httpx.Response(500, json=load("error_internal.json")),
            httpx.Response(502, text="<html>Bad Gateway</html>"),
            httpx.Response(204),
        ]
    )
    await read(source(sleeps))
    assert route.call_count == 3
    assert len(sleeps.calls) >= 2


async def test_a_timeout_is_retried(zoho: Any) -> None:
    route = zoho.post(COQL).mock(side_effect=[httpx.ReadTimeout("slow"), httpx.Response(204)])
    await read(source())
    assert route.call_count == 2


async def test_internal_errors_that_persist_surface_as_transient(zoho: Any) -> None:
    zoho.post(COQL).mock(return_value=httpx.Response(500, json=load("error_internal.json")))
    with pytest.raises(TransientError) as caught:
        await read(source())
    assert caught.value.vendor_code == "INTERNAL_ERROR"


async def test_a_concurrency_429_is_waited_out_longer_each_time(zoho: Any) -> None:
    sleeps = Sleeps()
    route = zoho.post(COQL).mock(
        side_effect=[
            httpx.Response(429, json=TOO_MANY),
            httpx.Response(429, json=TOO_MANY),
            httpx.Response(204),
        ]
    )
    await read(source(sleeps, throttle_wait=1.5))
    assert route.call_count == 3
    assert 1.5 in sleeps.calls
    assert 3.0 in sleeps.calls, "Zoho sends no Retry-After: the wait doubles"


async def test_a_retry_after_header_is_honoured_when_zoho_sends_one(zoho: Any) -> None:
    sleeps = Sleeps()
    zoho.post(COQL).mock(
        side_effect=[
            httpx.Response(429, json=TOO_MANY, headers={"Retry-After": "7"}),
            httpx.Response(204),
        ]
    )
    await read(source(sleeps))
    assert 7.0 in sleeps.calls


async def test_a_429_with_no_credits_left_stops_the_job_and_says_when_they_return(
    zoho: Any,
) -> None:
    route = zoho.post(COQL).mock(
        return_value=httpx.Response(429, json=TOO_MANY, headers={"X-API-CREDITS-REMAINING": "0"})
    )
    with pytest.raises(BudgetExhausted) as caught:
        await read(source())
    assert route.call_count == 1, "hours away: not retried inside the run"
    assert not caught.value.exact, "Zoho names no reset time: only when to ask again"
    text = str(caught.value)
    assert "credits are used up" in text
    assert "all of them by 2025-03-29 13:00 UTC" in text


async def test_the_credit_reserve_is_never_spent(zoho: Any) -> None:
    zoho.get(FIELDS).mock(
        return_value=httpx.Response(
            200, json=load("fields_deals.json"), headers={"X-API-CREDITS-REMAINING": "450"}
        )
    )
    route = zoho.post(COQL)
    with pytest.raises(BudgetExhausted, match=r"450 credits left .* credit_reserve \(500\)"):
        await read(source())
    assert not route.called, "stopped before the call, not after Zoho's 429"


async def test_health_reports_the_credits_zoho_announced(zoho: Any) -> None:
    zoho.get("https://www.zohoapis.eu/crm/v8/Deals").mock(
        return_value=httpx.Response(
            200,
            json={"data": [], "info": {"more_records": False}},
            headers={"X-API-CREDITS-REMAINING": "24310"},
        )
    )
    health = await source().check()
    assert health.ok
    assert health.api_usage == "24310 API credits left (rolling 24 h)"


async def test_health_says_why_not(zoho: Any) -> None:
    zoho.get("https://www.zohoapis.eu/crm/v8/Deals").mock(
        return_value=httpx.Response(401, json=load("error_oauth_scope_mismatch.json"))
    )
    health = await source().check()
    assert not health.ok
    assert "OAUTH_SCOPE_MISMATCH" in health.detail
