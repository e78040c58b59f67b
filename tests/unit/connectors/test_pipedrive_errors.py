"""Pipedrive's limits and error answers: burst 429s waited out, a spent daily budget stopping the
job with its reset time, the admin's token cap, 5xx and timeouts retried, and every documented
error body classified for the person who has to act."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from connectors.base import DealQuery
from connectors.errors import (
    AuthError,
    BudgetExhausted,
    ConnectorError,
    PermanentError,
    TransientError,
)
from connectors.sales.pipedrive.client import PipedriveClient
from connectors.sales.pipedrive.errors import Classifier
from connectors.sales.pipedrive.limits import TokenLedger, burst_limit
from connectors.settings import ConnectorOptions
from tests.fixtures.pipedrive.builders import (
    BASE,
    DEALS,
    NOW,
    TOKEN,
    TOKEN_ENV,
    Sleeps,
    config,
    empty,
    load,
    mock_account,
    source,
)

pytestmark = pytest.mark.anyio

EMPTY = load("deals_empty.json")


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def over_limit(**headers: str) -> httpx.Response:
    return httpx.Response(429, json=load("error_429.json"), headers=headers)


async def check_error(respx_mock: respx.MockRouter, response: httpx.Response) -> Exception:
    """The error one ``GET /api/v2/deals`` answer turns into (through the real client)."""
    respx_mock.get(DEALS).mock(return_value=response)
    src = source()
    with pytest.raises(ConnectorError) as caught:
        await src.client.get("/api/v2/deals", operation="read changed deals")
    await src.aclose()
    return caught.value


# --- 429: burst or daily budget -----------------------------------------------------------------


async def test_a_burst_429_with_retry_after_is_waited_out(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(DEALS).mock(
        side_effect=[
            over_limit(**{"Retry-After": "2", "x-ratelimit-remaining": "0"}),
            httpx.Response(200, json=EMPTY),
        ]
    )
    sleeps = Sleeps()
    src = source(sleeps)
    await src.client.get("/api/v2/deals", operation="read changed deals")
    assert 2.0 in sleeps.calls
    assert src.client.api.stats.throttled == 1


async def test_a_429_with_an_empty_window_and_no_retry_after_waits_for_the_reset(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(DEALS).mock(
        side_effect=[
            over_limit(**{"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}),
            httpx.Response(200, json=EMPTY),
        ]
    )
    sleeps = Sleeps()
    await source(sleeps).client.get("/api/v2/deals", operation="read changed deals")
    assert max(sleeps.calls) >= 1.0


async def test_a_429_while_the_burst_window_has_room_is_the_daily_budget(
    respx_mock: respx.MockRouter,
) -> None:
    error = await check_error(respx_mock, over_limit(**{"x-ratelimit-remaining": "17"}))
    assert isinstance(error, BudgetExhausted)
    assert error.until == datetime(2026, 12, 7, tzinfo=UTC)
    assert not error.exact, "Pipedrive does not name its server's time zone"
    assert error.vendor_code == "daily_budget"
    message = str(error)
    assert "daily API token budget" in message
    assert "2026-12-07 00:00 UTC, in 14 h 0 min" in message  # NOW is 10:00 UTC
    assert "assuming UTC" in message
    assert "resumes from its cursor" in message


async def test_a_429_asking_for_hours_is_the_daily_budget_not_a_wait(
    respx_mock: respx.MockRouter,
) -> None:
    error = await check_error(respx_mock, over_limit(**{"Retry-After": "50400"}))
    assert isinstance(error, BudgetExhausted)
    assert error.vendor_code == "daily_budget"


async def test_a_429_that_outlasts_three_windows_is_the_daily_budget(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.get(DEALS).mock(return_value=over_limit())
    sleeps = Sleeps()
    with pytest.raises(BudgetExhausted, match="daily API token budget"):
        await source(sleeps).client.get("/api/v2/deals", operation="read changed deals")
    assert route.call_count == 4
    assert sleeps.calls[:3] == [2.0, 2.0, 2.0]


def test_any_other_answer_resets_the_429_count() -> None:
    classify = Classifier(lambda: NOW)
    request = httpx.Request("GET", DEALS)
    for _ in range(3):
        classify(httpx.Response(429, json=load("error_429.json"), request=request))
    classify(httpx.Response(200, json=EMPTY, request=request))
    error = classify(httpx.Response(429, json=load("error_429.json"), request=request))
    assert not isinstance(error, BudgetExhausted)


async def test_the_admins_token_cap_stops_the_connector_before_it_overspends(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock)
    src = source(max_tokens_per_day=45)  # deals 10 + deleted 10 + archived 20 = 40; 20 more
    # for the deleted archived deals would pass the cap
    with pytest.raises(BudgetExhausted) as caught:
        async for _page in src.changed_deals(
            DealQuery(fields=("custom_fields.payment_terms",)), None
        ):
            pass
    message = str(caught.value)
    assert "spent 40 of its max_tokens_per_day (45)" in message
    assert "starts again at midnight UTC" in message
    assert src.client.ledger.by_endpoint == {
        "/api/v2/deals": 20,
        "/api/v2/deals/archived": 20,
    }


def test_the_token_ledger_starts_over_each_utc_day() -> None:
    moments = iter(
        [datetime(2026, 12, 6, 23, 59, tzinfo=UTC), datetime(2026, 12, 7, 0, 1, tzinfo=UTC)]
    )
    current = next(moments)

    def now() -> datetime:
        return current

    ledger = TokenLedger(cap=25, now=now)
    ledger.charge("/api/v2/deals/archived")
    current = next(moments)
    ledger.charge("/api/v2/deals/archived")
    assert ledger.spent == 20


# --- the burst window is paced ------------------------------------------------------------------


async def test_requests_are_paced_to_the_plans_burst_window(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(DEALS).mock(return_value=httpx.Response(200, json=EMPTY))
    sleeps = Sleeps()
    client = PipedriveClient(
        "nordics", config(plan="lite"), ConnectorOptions(sleep=sleeps), now=lambda: NOW
    )
    sent: list[float] = []
    for _ in range(45):
        await client.get("/api/v2/deals", operation="read changed deals")
        sent.append(client.timing.now())
    await client.aclose()
    assert sum(sleeps.calls) >= 4.0  # 45 requests at 20 per 2 s need at least two full windows
    for index, moment in enumerate(sent):
        in_window = [t for t in sent[: index + 1] if t > moment - 2.0]
        assert len(in_window) <= 20


def test_an_oauth_app_gets_four_times_the_burst_of_an_api_token() -> None:
    assert burst_limit("lite", oauth=False) == 20
    assert burst_limit("lite", oauth=True) == 80
    assert burst_limit("ultimate", oauth=False) == 120
    assert burst_limit("professional", oauth=True) == 320


async def test_an_almost_empty_window_holds_the_next_request_until_the_reset(
    respx_mock: respx.MockRouter,
) -> None:
    headers = {"x-ratelimit-limit": "20", "x-ratelimit-remaining": "1", "x-ratelimit-reset": "2"}
    respx_mock.get(DEALS).mock(return_value=httpx.Response(200, json=EMPTY, headers=headers))
    sleeps = Sleeps()
    src = source(sleeps)
    await src.client.get("/api/v2/deals", operation="read changed deals")
    await src.client.get("/api/v2/deals", operation="read changed deals")
    assert sleeps.calls
    assert sleeps.calls[0] == pytest.approx(2.0, abs=0.2)


# --- 5xx, timeouts, odd answers -----------------------------------------------------------------


async def test_a_503_is_retried(respx_mock: respx.MockRouter) -> None:
    maintenance = {"success": False, "error": "Scheduled maintenance"}
    respx_mock.get(DEALS).mock(
        side_effect=[httpx.Response(503, json=maintenance), httpx.Response(200, json=EMPTY)]
    )
    src = source()
    await src.client.get("/api/v2/deals", operation="read changed deals")
    assert src.client.api.stats.retries == 1


async def test_a_500_that_persists_is_a_transient_error_naming_pipedrives_words(
    respx_mock: respx.MockRouter,
) -> None:
    error = await check_error(
        respx_mock, httpx.Response(500, json={"success": False, "error": "Oops"})
    )
    assert isinstance(error, TransientError)
    assert "Pipedrive is unavailable: Oops" in str(error)


async def test_a_timeout_is_retried(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(DEALS).mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json=EMPTY)]
    )
    src = source()
    await src.client.get("/api/v2/deals", operation="read changed deals")
    assert src.client.api.stats.retries == 1


async def test_a_200_without_a_successful_envelope_is_not_taken_for_data(
    respx_mock: respx.MockRouter,
) -> None:
    error = await check_error(
        respx_mock, httpx.Response(200, json={"success": False, "error": "x"})
    )
    assert isinstance(error, TransientError)
    assert "without a successful envelope" in str(error)


# --- each documented error body -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind", "who", "words"),
    [
        (401, "error_401_api_token.json", AuthError, "admin", "Personal preferences > API"),
        (401, "error_401_oauth.json", AuthError, "admin", "access_token` is invalid"),
        (403, "error_403_scope.json", AuthError, "admin", "deals:read, contacts:read"),
        (403, "error_403_permission.json", AuthError, "admin", "You don't have permission"),
        (402, "error_402.json", PermanentError, "admin", "trial ended or unpaid"),
        (404, "error_404.json", PermanentError, "admin", "check base_url"),
        (400, "error_400.json", PermanentError, "developer", "limit"),
    ],
)
async def test_each_documented_error_body_is_classified_for_who_acts(
    respx_mock: respx.MockRouter,
    status: int,
    body: str,
    kind: type[Exception],
    who: str,
    words: str,
) -> None:
    error = await check_error(respx_mock, httpx.Response(status, json=load(body)))
    assert isinstance(error, kind)
    assert isinstance(error, PermanentError)
    assert error.who_acts == who
    assert words in str(error)
    assert TOKEN not in str(error)


async def test_a_410_says_the_connector_needs_an_update(respx_mock: respx.MockRouter) -> None:
    body = {"success": False, "error": "Gone"}
    error = await check_error(respx_mock, httpx.Response(410, json=body))
    assert isinstance(error, PermanentError)
    assert error.who_acts == "developer"
    assert "connector needs an update" in str(error)


async def test_an_html_403_is_cloudflares_block_and_stops_the_job(
    respx_mock: respx.MockRouter,
) -> None:
    page = "<!DOCTYPE html><html><title>Attention Required! | Cloudflare</title></html>"
    error = await check_error(respx_mock, httpx.Response(403, text=page))
    assert isinstance(error, PermanentError)
    assert not isinstance(error, AuthError)
    assert error.who_acts == "admin"
    assert "Cloudflare" in str(error)


async def test_one_run_stops_at_the_first_permanent_error_and_keeps_no_page(
    respx_mock: respx.MockRouter,
) -> None:
    lists = mock_account(respx_mock, empty("archived"))
    respx_mock.get(f"{BASE}/api/v2/organizations").respond(
        401, json=load("error_401_api_token.json")
    )
    src = source()
    pages: list[Any] = []

    async def read() -> None:
        async for page in src.changed_deals(DealQuery(fields=("organization.name",)), None):
            pages.append(page)  # noqa: PERF401 - pages handed out before the error stay visible

    with pytest.raises(AuthError):
        await read()
    assert pages == []  # the page whose organizations failed was never handed out
    assert lists.params("live")
