"""Salesforce source: throttling, vendor error bodies, and the API budget it reports (respx)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from connectors.base import DealQuery
from connectors.errors import (
    AuthError,
    BudgetExhausted,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from connectors.sales.salesforce import SalesforceSource
from connectors.salesforce_common.errors import make_classifier, parse_api_usage, read_limits
from tests.fixtures.salesforce.support import (
    API,
    FakeSleep,
    limit_headers,
    load,
    make_source,
    mock_login,
)

pytestmark = pytest.mark.anyio

QUERY = DealQuery(fields=("Name",))
EMPTY = {"totalSize": 0, "done": True, "records": []}


def answer(status: int, code: str, message: str = "vendor says no") -> httpx.Response:
    request = httpx.Request("GET", f"{API}/queryAll")
    return httpx.Response(status, json=[{"message": message, "errorCode": code}], request=request)


async def drain(source: SalesforceSource, query: DealQuery = QUERY) -> None:
    async for _ in source.changed_deals(query, None):
        pass


# -- throttling --------------------------------------------------------------------------------


async def test_the_concurrent_request_limit_waits_and_retries(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    route = respx_mock.get(f"{API}/queryAll").mock(
        side_effect=[
            httpx.Response(403, json=load("concurrent_limit_exceeded_response.json")),
            httpx.Response(200, json=load("opportunities_page2.json")),
        ]
    )
    sleep = FakeSleep()
    source = make_source(monkeypatch, sleep)
    await drain(source)
    assert route.call_count == 2
    assert max(sleep.calls) >= 60.0  # Salesforce sends no Retry-After: the configured wait
    assert source.api.stats.throttled == 1
    await source.aclose()


async def test_throttle_wait_is_configurable(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    respx_mock.get(f"{API}/queryAll").mock(
        side_effect=[
            httpx.Response(403, json=load("concurrent_limit_exceeded_response.json")),
            httpx.Response(200, json=EMPTY),
        ]
    )
    sleep = FakeSleep()
    source = make_source(monkeypatch, sleep, throttle_retry_after=5)
    await drain(source)
    assert 5.0 in sleep.calls
    assert max(sleep.calls) < 60.0
    await source.aclose()


async def test_a_throttle_that_persists_surfaces_as_rate_limited_with_its_wait(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    route = respx_mock.get(f"{API}/queryAll").mock(
        return_value=httpx.Response(403, json=load("concurrent_limit_exceeded_response.json"))
    )
    source = make_source(monkeypatch)
    with pytest.raises(RateLimited) as caught:
        await drain(source)
    assert caught.value.retry_after == 60.0
    assert caught.value.vendor_code == "REQUEST_LIMIT_EXCEEDED"
    assert "ConcurrentPerOrgLongTxn" in str(caught.value)
    assert route.call_count == 5
    await source.aclose()


async def test_a_spent_24_hour_allocation_stops_at_once_and_says_when_to_ask_again(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    route = respx_mock.get(f"{API}/queryAll").mock(
        return_value=httpx.Response(
            403,
            json=load("request_limit_exceeded_response.json"),
            headers=limit_headers(100_000, 100_000),
        )
    )
    sleep = FakeSleep()
    source = make_source(monkeypatch, sleep, daily_limit_recheck=1800)
    before = datetime.now(UTC)
    with pytest.raises(BudgetExhausted) as caught:
        await drain(source)
    assert route.call_count == 1, "not retried every minute: nothing can succeed for a while"
    assert not sleep.calls
    assert not caught.value.exact, "the window rolls: no fixed reset time"
    wait = caught.value.until - before
    assert timedelta(seconds=1799) <= wait <= timedelta(seconds=1830)
    assert "api-usage 100000/100000" in str(caught.value)
    assert caught.value.vendor_code == "REQUEST_LIMIT_EXCEEDED"
    await source.aclose()


@pytest.mark.parametrize(
    ("message", "usage", "daily"),
    [
        ("TotalRequests Limit exceeded.", None, True),
        ("TotalRequests Limit exceeded.", "api-usage=5000/5000", True),
        ("something new", "api-usage=5001/5000", True),
        ("ConcurrentPerOrgLongTxn Limit exceeded.", "api-usage=12/5000", False),
        ("ConcurrentPerOrgLongTxn Limit exceeded.", None, False),
    ],
)
def test_request_limit_exceeded_is_the_daily_allocation_only_when_it_says_so(
    message: str, usage: str | None, daily: bool
) -> None:
    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    headers = {"Sforce-Limit-Info": usage} if usage else {}
    request = httpx.Request("GET", f"{API}/queryAll")
    body = [{"message": message, "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    found = make_classifier(60.0, 3600.0, lambda: now)(
        httpx.Response(403, json=body, headers=headers, request=request)
    )
    if daily:
        assert isinstance(found, BudgetExhausted)
        assert found.until == now + timedelta(hours=1)
        assert found.when() == "tried again at 2026-12-05 10:00 UTC"
    else:
        assert isinstance(found, RateLimited)
        assert found.retry_after == 60.0


async def test_other_403_is_an_auth_error_not_a_throttle(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    route = respx_mock.get(f"{API}/queryAll").mock(
        return_value=httpx.Response(403, json=load("insufficient_access_response.json"))
    )
    source = make_source(monkeypatch)
    with pytest.raises(AuthError, match="insufficient access rights") as caught:
        await drain(source)
    assert caught.value.who_acts == "admin"
    assert route.call_count == 1
    await source.aclose()


# -- vendor error bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "kind", "who"),
    [
        (400, "INVALID_FIELD", PermanentError, "admin"),
        (400, "MALFORMED_QUERY", PermanentError, "admin"),
        (400, "INVALID_TYPE", PermanentError, "admin"),
        (400, "INVALID_QUERY_FILTER_OPERATOR", PermanentError, "admin"),
        (404, "NOT_FOUND", PermanentError, "admin"),
        (401, "INVALID_SESSION_ID", AuthError, "admin"),
        (403, "API_DISABLED_FOR_ORG", AuthError, "admin"),
        (400, "QUERY_TIMEOUT", TransientError, None),
        (503, "SERVER_UNAVAILABLE", TransientError, None),
        (400, "UNABLE_TO_LOCK_ROW", TransientError, None),
        (400, "INVALID_QUERY_LOCATOR", TransientError, None),
        (500, "UNKNOWN_EXCEPTION", TransientError, None),
        (400, "SOME_NEW_CODE", PermanentError, "developer"),
    ],
)
def test_error_codes_map_to_what_must_happen_next(
    status: int, code: str, kind: type[ConnectorError], who: str | None
) -> None:
    error = make_classifier(60.0)(answer(status, code))
    assert type(error) is kind
    assert error.vendor_code == code
    assert error.status == status
    if who is not None:
        assert isinstance(error, PermanentError)
        assert error.who_acts == who


def test_error_text_carries_the_vendor_message_code_and_fields() -> None:
    request = httpx.Request("GET", f"{API}/queryAll")
    body = [
        {
            "message": "No such column 'Discount__c' on entity 'Opportunity'.",
            "errorCode": "INVALID_FIELD",
            "fields": ["Discount__c"],
        }
    ]
    error = make_classifier(60.0)(httpx.Response(400, json=body, request=request))
    assert str(error) == (
        "HTTP 400: No such column 'Discount__c' on entity 'Opportunity'. "
        "[fields: Discount__c] (INVALID_FIELD)"
    )


def test_an_html_maintenance_page_is_transient() -> None:
    request = httpx.Request("GET", f"{API}/queryAll")
    page = httpx.Response(503, text="<html>Down for maintenance</html>", request=request)
    error = make_classifier(60.0)(page)
    assert isinstance(error, TransientError)
    assert "HTTP 503 without an error body" in str(error)


def test_success_is_not_an_error() -> None:
    request = httpx.Request("GET", f"{API}/queryAll")
    assert make_classifier(60.0)(httpx.Response(200, json=EMPTY, request=request)) is None


async def test_restforce_query_error_body_becomes_a_permanent_error_with_its_code(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    respx_mock.get(f"{API}/queryAll").mock(
        return_value=httpx.Response(400, json=load("query_error_response.json"))
    )
    source = make_source(monkeypatch)
    with pytest.raises(PermanentError) as caught:
        await drain(source)
    assert "error_message" in str(caught.value)
    assert "(INVALID_FIELD)" in str(caught.value)
    assert caught.value.connector == "west"
    await source.aclose()


async def test_query_timeout_is_retried_then_reading_goes_on(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    timeout = [
        {"message": "Your query request was running for too long.", "errorCode": "QUERY_TIMEOUT"}
    ]
    route = respx_mock.get(f"{API}/queryAll").mock(
        side_effect=[
            httpx.Response(400, json=timeout),
            httpx.Response(200, json=load("opportunities_page2.json")),
        ]
    )
    source = make_source(monkeypatch)
    pages = [p async for p in source.changed_deals(QUERY, None)]
    assert route.call_count == 2
    assert len(pages[0].deals) == 2
    await source.aclose()


async def test_a_body_that_is_not_json_is_a_transient_error(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    respx_mock.get(f"{API}/queryAll").mock(
        return_value=httpx.Response(
            200, text="<html>login</html>", headers={"content-type": "text/html"}
        )
    )
    source = make_source(monkeypatch)
    with pytest.raises(TransientError, match="expected JSON"):
        await drain(source)
    await source.aclose()


# -- the API budget ----------------------------------------------------------------------------


def test_sforce_limit_info_gives_the_remaining_daily_budget() -> None:
    response = httpx.Response(200, json=EMPTY, headers=limit_headers(10018, 100000))
    signal = read_limits(response)
    assert (signal.limit, signal.remaining) == (100000, 89982)
    assert signal.retry_after is None


def test_per_app_usage_in_the_header_does_not_confuse_the_org_usage() -> None:
    header = "api-usage=18/5000; per-app-api-usage=17/250(appName=sample-connected-app)"
    assert parse_api_usage(header) == (18, 5000)
    assert parse_api_usage(None) is None
    assert parse_api_usage("garbage") is None


async def test_check_reports_api_usage_from_the_last_response(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    route = respx_mock.get(f"{API}/query").mock(
        return_value=httpx.Response(200, json=EMPTY, headers=limit_headers(18, 5000))
    )
    source = make_source(monkeypatch)
    health = await source.check()
    assert health.ok
    assert health.api_usage == "18/5000 API requests used (rolling 24 h)"
    assert route.calls.last.request.url.params["q"] == "SELECT Id FROM Opportunity LIMIT 1"
    assert source.api.gate.last_signal.remaining == 4982
    await source.aclose()


async def test_check_reports_a_refusal_instead_of_raising(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    respx_mock.post("https://login.salesforce.test/services/oauth2/token").mock(
        return_value=httpx.Response(400, json=load("auth_error_response.json"))
    )
    source = make_source(monkeypatch)
    health = await source.check()
    assert not health.ok
    assert "invalid_grant" in health.detail
    await source.aclose()
