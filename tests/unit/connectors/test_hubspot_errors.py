"""HubSpot source: throttling signals, error bodies -> error classes, and secrets kept out of
logs and error text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from connectors.base import DealQuery
from connectors.errors import (
    AuthError,
    BudgetExhausted,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from connectors.sales.hubspot import classify, make_classifier, read_limits
from connectors.sales.hubspot.errors import next_midnight
from tests.fixtures.hubspot.builders import (
    BASE,
    NOW,
    SEARCH,
    TOKEN,
    TOKEN_ENV,
    Sleeps,
    load,
    source,
)

pytestmark = pytest.mark.anyio

PROPERTIES = f"{BASE}/crm/v3/properties/deals"
WINDOW_HEADERS = {
    "X-HubSpot-RateLimit-Max": "190",
    "X-HubSpot-RateLimit-Remaining": "0",
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
}
EMPTY_SEARCH = {"total": 0, "results": []}


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def answer(
    status: int, fixture: str | None = None, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A HubSpot answer carrying a fixture body (or a bare message) and headers."""
    body = load(fixture) if fixture else {"message": "Migration in progress"}
    return httpx.Response(status, json=body, headers=headers, request=httpx.Request("POST", SEARCH))


# --- the classification table ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "fixture", "error", "who"),
    [
        (401, "error_401_invalid.json", AuthError, "admin"),
        (401, "error_401_expired.json", AuthError, "admin"),
        (403, "error_403_missing_scopes.json", AuthError, "admin"),
        (400, "error_400_validation.json", PermanentError, "admin"),
    ],
)
def test_error_bodies_map_to_the_error_that_says_who_acts(
    status: int, fixture: str, error: type[PermanentError], who: str
) -> None:
    found = classify(answer(status, fixture))
    assert type(found) is error
    assert isinstance(found, PermanentError)
    assert found.who_acts == who
    assert load(fixture)["message"] in found.message
    assert load(fixture)["correlationId"] in found.message


@pytest.mark.parametrize(
    ("status", "fixture", "headers", "wait"),
    [
        (429, "error_429_ten_secondly.json", WINDOW_HEADERS, 10.0),
        (429, "error_429_ten_secondly.json", {}, 10.0),
        (429, "error_429_ten_secondly.json", {"Retry-After": "3"}, 3.0),
        (429, "error_429_secondly.json", {}, 1.0),
        (477, None, {"Retry-After": "30"}, 30.0),
    ],
)
def test_throttle_answers_are_rate_limited_with_the_policy_wait(
    status: int, fixture: str | None, headers: dict[str, str], wait: float
) -> None:
    found = classify(answer(status, fixture, headers=headers))
    assert isinstance(found, RateLimited)
    assert found.retry_after == wait


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(status: int) -> None:
    response = httpx.Response(
        status, text="<html>Bad gateway</html>", request=httpx.Request("GET", BASE)
    )
    assert type(classify(response)) is TransientError


def test_missing_scopes_error_names_the_scopes_to_grant() -> None:
    found = classify(answer(403, "error_403_missing_scopes.json"))
    assert found is not None
    assert "grant the scopes: crm.objects.owners.read" in found.message
    assert found.vendor_code == "MISSING_SCOPES"


def test_limit_headers_feed_the_gate() -> None:
    signal = read_limits(
        httpx.Response(200, headers=WINDOW_HEADERS | {"X-HubSpot-RateLimit-Remaining": "42"})
    )
    assert (signal.limit, signal.remaining, signal.reset_after) == (190, 42, 10.0)


# --- throttling end to end through the client -------------------------------------------------


async def test_throttle_429_ten_secondly_rolling_waits_the_interval_and_retries(
    respx_mock: respx.MockRouter,
) -> None:
    sleeps = Sleeps()
    route = respx_mock.get(PROPERTIES).mock(
        side_effect=[
            httpx.Response(429, json=load("error_429_ten_secondly.json"), headers=WINDOW_HEADERS),
            httpx.Response(200, json=load("properties_deals.json")),
        ]
    )
    for kind in ("companies", "contacts"):
        respx_mock.get(f"{BASE}/crm/v3/properties/{kind}").mock(
            return_value=httpx.Response(200, json=load(f"properties_{kind}.json"))
        )
    src = source(sleeps)
    assert await src.field_catalog()
    await src.aclose()
    assert route.call_count == 2
    assert max(sleeps.calls) >= 10.0
    assert src.api.stats.throttled == 1


async def test_search_429_secondly_waits_a_second_and_retries_the_search(
    respx_mock: respx.MockRouter,
) -> None:
    sleeps = Sleeps()
    route = respx_mock.post(SEARCH).mock(
        side_effect=[
            httpx.Response(429, json=load("error_429_secondly.json")),
            httpx.Response(200, json=EMPTY_SEARCH),
        ]
    )
    src = source(sleeps, read_archived=False)
    pages = [p async for p in src.changed_deals(DealQuery(fields=("properties.dealname",)), None)]
    await src.aclose()
    assert pages == []
    assert route.call_count == 2
    assert 1.0 in sleeps.calls


async def test_a_spent_daily_budget_stops_the_run_at_once_until_midnight_in_the_account_zone(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(SEARCH).mock(
        return_value=httpx.Response(429, json=load("error_429_daily.json"))
    )
    src = source(read_archived=False, account_time_zone="America/Chicago")
    with pytest.raises(BudgetExhausted, match="refills at midnight in America/Chicago") as caught:
        [p async for p in src.changed_deals(DealQuery(fields=("properties.dealname",)), None)]
    await src.aclose()
    assert route.call_count == 1, "not retried: nothing can succeed before midnight"
    assert caught.value.exact
    assert caught.value.until == next_midnight(NOW, "America/Chicago")
    assert caught.value.vendor_code == "DAILY"


def test_without_the_account_zone_a_spent_daily_budget_is_asked_again_after_the_recheck() -> None:
    now = datetime(2026, 12, 5, 15, 30, tzinfo=UTC)
    found = make_classifier(None, 1800.0, lambda: now)(answer(429, "error_429_daily.json"))
    assert isinstance(found, BudgetExhausted)
    assert not found.exact
    assert found.until == now + timedelta(seconds=1800)
    assert "set account_time_zone" in found.message
    assert found.when() == "tried again at 2026-12-05 16:00 UTC"


@settings(max_examples=200, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2020, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
        max_value=datetime(2035, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    zone=st.sampled_from(
        ["UTC", "America/Chicago", "Europe/Berlin", "Asia/Kolkata", "Pacific/Auckland"]
    ),
)
def test_the_daily_reset_is_the_first_local_midnight_after_now(now: datetime, zone: str) -> None:
    reset = next_midnight(now, zone)
    local = reset.astimezone(ZoneInfo(zone))
    assert reset > now
    assert (local.hour, local.minute) == (0, 0)
    assert reset - now <= timedelta(hours=25), "never more than a (DST-long) day away"


async def test_server_error_on_search_is_retried_because_search_only_reads(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(SEARCH).mock(
        side_effect=[
            httpx.Response(502, text="Bad Gateway"),
            httpx.Response(200, json=EMPTY_SEARCH),
        ]
    )
    src = source(read_archived=False)
    [p async for p in src.changed_deals(DealQuery(fields=("properties.dealname",)), None)]
    await src.aclose()
    assert route.call_count == 2


async def test_401_is_an_auth_error_with_hubspots_message(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(SEARCH).mock(
        return_value=httpx.Response(401, json=load("error_401_invalid.json"))
    )
    src = source(read_archived=False)
    with pytest.raises(AuthError, match="Authentication credentials not found") as caught:
        [p async for p in src.changed_deals(DealQuery(fields=("properties.dealname",)), None)]
    await src.aclose()
    assert caught.value.who_acts == "admin"
    assert caught.value.vendor_code == "INVALID_AUTHENTICATION"


async def test_check_reports_refused_credentials_instead_of_raising(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(f"{BASE}/crm/v3/objects/deals").mock(
        return_value=httpx.Response(401, json=load("error_401_invalid.json"))
    )
    src = source()
    health = await src.check()
    await src.aclose()
    assert not health.ok
    assert "Authentication credentials not found" in health.detail


async def test_missing_owner_scope_fails_a_mapping_that_reads_the_owner(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(SEARCH).mock(
        return_value=httpx.Response(200, json=load("search_deals_page2.json"))
    )
    respx_mock.get(f"{BASE}/crm/v3/owners").mock(
        return_value=httpx.Response(403, json=load("error_403_missing_scopes.json"))
    )
    src = source(read_archived=False)
    with pytest.raises(AuthError, match=r"crm\.objects\.owners\.read"):
        [p async for p in src.changed_deals(DealQuery(fields=("owner.email",)), None)]
    await src.aclose()


# --- secrets -----------------------------------------------------------------------------------


async def test_the_token_never_reaches_logs_or_error_text(respx_mock: respx.MockRouter) -> None:
    echo = load("error_401_invalid.json") | {"message": f"Bad token {TOKEN} for this portal"}
    route = respx_mock.post(SEARCH).mock(return_value=httpx.Response(401, json=echo))
    src = source(read_archived=False)
    with capture_logs() as logs, pytest.raises(ConnectorError) as caught:
        [p async for p in src.changed_deals(DealQuery(fields=("properties.dealname",)), None)]
    await src.aclose()
    assert route.calls[0].request.headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(caught.value)
    assert "***" in str(caught.value)
    assert TOKEN not in json.dumps(logs, default=str)
