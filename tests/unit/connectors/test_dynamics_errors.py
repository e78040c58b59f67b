"""Dynamics source: service protection (429 + Retry-After), retries, timeouts, each error body,
and Entra client credentials (renewal before expiry, one renewal on 401, refusals)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from connectors.base import DealQuery
from connectors.errors import AuthError, ConnectorError, PermanentError, TransientError
from connectors.sales.dynamics import DynamicsSource
from connectors.sales.dynamics.errors import DataverseBusy
from tests.fixtures.dynamics.builders import (
    API,
    CLIENT_ID,
    DEALS,
    SECRET,
    SECRET_ENV,
    TOKEN_URL,
    OData,
    Sleeps,
    delta_link,
    entra_error,
    error,
    metadata,
    page,
    row,
    source,
    token,
)

pytestmark = pytest.mark.anyio

QUERY = DealQuery(fields=("name",))
REQUESTS_MESSAGE = "Number of requests exceeded the limit of 6000 over time window of 300 seconds."


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


async def read(src: DynamicsSource) -> int:
    count = 0
    async for page_ in src.changed_deals(QUERY, None):
        count += len(page_.deals)
    return count


def first_read(respx_mock: respx.MockRouter, *extra_reads: httpx.Response) -> OData:
    odata = OData().on("track", page([], delta_link=delta_link(), tracking=True))
    odata.on("read", *extra_reads, page([row("00000000-0000-4000-8000-000000000001")]))
    respx_mock.get(url__startswith=DEALS).mock(side_effect=odata)
    return odata


async def test_a_429_is_waited_out_for_its_retry_after_then_the_read_goes_on(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    respx_mock.post(TOKEN_URL).mock(return_value=token())
    throttled = error(429, "0x80072322", REQUESTS_MESSAGE, **{"Retry-After": "17"})
    odata = first_read(respx_mock, throttled)
    sleeps = Sleeps()
    src = source(sleeps)
    assert await read(src) == 1
    await src.aclose()
    assert len(odata.seen["read"]) == 2
    assert any(wait >= 17 for wait in sleeps.calls), sleeps.calls
    assert src.api.http.stats.throttled == 1


@pytest.mark.parametrize(
    ("code", "limit"),
    [
        ("0x80072322", "requests per 5 minutes"),
        ("0x80072321", "combined execution time per 5 minutes"),
        ("0x80072326", "concurrent requests"),
    ],
)
async def test_each_service_protection_code_names_its_limit(
    respx_mock: respx.MockRouter, code: str, limit: str
) -> None:
    metadata(respx_mock)
    respx_mock.post(TOKEN_URL).mock(return_value=token())
    throttled = error(429, code, "limit reached", **{"Retry-After": "9999"})
    first_read(respx_mock, throttled)
    src = source()
    with pytest.raises(DataverseBusy) as caught:
        await read(src)
    await src.aclose()
    assert limit in str(caught.value)


async def test_a_retry_after_longer_than_allowed_stops_the_job_saying_when_it_may_resume(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    respx_mock.post(TOKEN_URL).mock(return_value=token())
    odata = first_read(
        respx_mock, error(429, "0x80072322", REQUESTS_MESSAGE, **{"Retry-After": "1800"})
    )
    src = source(max_retry_after=300)
    with pytest.raises(DataverseBusy) as caught:
        await read(src)
    await src.aclose()
    assert caught.value.exact, "the job holds until Dataverse's own Retry-After"
    assert "asked to wait 1800 s" in str(caught.value)
    assert "accepted again from about" in str(caught.value)
    assert len(odata.seen["read"]) == 1, "no retry inside the run"


async def test_a_5xx_is_retried(respx_mock: respx.MockRouter) -> None:
    metadata(respx_mock)
    respx_mock.post(TOKEN_URL).mock(return_value=token())
    odata = first_read(
        respx_mock,
        error(503, "", "Service Unavailable"),
        error(500, "0x80040216", "An unexpected error occurred."),
    )
    src = source()
    assert await read(src) == 1
    await src.aclose()
    assert len(odata.seen["read"]) == 3


async def test_a_timeout_is_retried(respx_mock: respx.MockRouter) -> None:
    metadata(respx_mock)
    respx_mock.post(TOKEN_URL).mock(return_value=token())
    odata = first_read(respx_mock)
    odata.queues["read"].insert(0, httpx.ReadTimeout("slow"))
    src = source()
    assert await read(src) == 1
    await src.aclose()
    assert len(odata.seen["read"]) == 2


async def test_a_5xx_that_never_ends_is_a_transient_error(respx_mock: respx.MockRouter) -> None:
    metadata(respx_mock)
    respx_mock.post(TOKEN_URL).mock(return_value=token())
    respx_mock.get(url__startswith=DEALS).mock(return_value=error(502, "", "Bad Gateway"))
    src = source()
    with pytest.raises(TransientError):
        await read(src)
    await src.aclose()


@pytest.mark.parametrize(
    ("status", "code", "message", "kind", "who", "hint"),
    [
        (
            403,
            "0x80040220",
            "Principal user is missing prvReadOpportunity privilege.",
            AuthError,
            "admin",
            "organization-level read",
        ),
        (
            404,
            "0x8006088a",
            "Resource not found for the segment 'opportunities'.",
            PermanentError,
            "admin",
            "Resource not found",
        ),
        (
            400,
            "0x80060888",
            "Syntax error at position 12.",
            PermanentError,
            "developer",
            "Syntax error",
        ),
        (413, "", "Request Entity Too Large", PermanentError, "developer", "Too Large"),
    ],
)
async def test_each_error_body_is_classified_with_the_vendors_words(
    respx_mock: respx.MockRouter,
    status: int,
    code: str,
    message: str,
    kind: type[PermanentError],
    who: str,
    hint: str,
) -> None:
    metadata(respx_mock)
    respx_mock.post(TOKEN_URL).mock(return_value=token())
    respx_mock.get(url__startswith=DEALS).mock(return_value=error(status, code, message))
    src = source()
    with pytest.raises(kind) as caught:
        await read(src)
    await src.aclose()
    assert caught.value.who_acts == who
    assert hint in str(caught.value)
    assert caught.value.vendor_code == (code or None)


async def test_a_401_gets_one_new_token_and_the_request_is_replayed(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    grant = respx_mock.post(TOKEN_URL).mock(side_effect=[token("tok-1"), token("tok-2")])
    odata = first_read(respx_mock, httpx.Response(401, headers={"WWW-Authenticate": "Bearer"}))
    src = source()
    assert await read(src) == 1
    await src.aclose()
    assert grant.call_count == 2
    assert [r.headers["authorization"] for r in odata.seen["read"]] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_a_401_that_persists_is_an_admin_problem_naming_what_to_check(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(TOKEN_URL).mock(side_effect=[token("tok-1"), token("tok-2")])
    respx_mock.get(url__startswith=API).mock(return_value=httpx.Response(401))
    src = source()
    with pytest.raises(AuthError) as caught:
        await read(src)
    await src.aclose()
    assert "application user" in str(caught.value)


async def test_the_grant_is_client_credentials_with_the_default_scope(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    grant = respx_mock.post(TOKEN_URL).mock(return_value=token())
    first_read(respx_mock)
    src = source()
    await read(src)
    await src.aclose()
    form = parse_qs(grant.calls[0].request.content.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [SECRET],
        "scope": ["https://contoso.crm4.dynamics.com/.default"],
    }


async def test_a_configured_token_endpoint_is_used(respx_mock: respx.MockRouter) -> None:
    custom = (
        "https://login.microsoftonline.us/3f1e2d4c-5b6a-4798-8a1b-2c3d4e5f6a7b/oauth2/v2.0/token"
    )
    metadata(respx_mock)
    grant = respx_mock.post(custom).mock(return_value=token())
    first_read(respx_mock)
    src = source()
    src = DynamicsSource(
        "crm",
        src.config.model_copy(
            update={"auth": src.config.auth.model_copy(update={"token_url": custom})}
        ),
    )
    await read(src)
    await src.aclose()
    assert grant.call_count == 1


async def test_the_token_is_renewed_ahead_of_its_expiry(respx_mock: respx.MockRouter) -> None:
    metadata(respx_mock)
    grant = respx_mock.post(TOKEN_URL).mock(
        side_effect=[token("tok-1", expires_in=600), token("tok-2", expires_in=600)]
    )
    odata = first_read(respx_mock)
    odata.on("track", page([], delta_link=delta_link(), tracking=True))
    odata.on("read", page([]))
    src = source()
    await read(src)
    await src.api.timing.sleep(301)  # past 600 s minus the 300 s renewal margin
    await read(src)
    await src.aclose()
    assert grant.call_count == 2
    assert odata.seen["read"][-1].headers["authorization"] == "Bearer tok-2"
    assert not [c for c in respx_mock.calls if c.response.status_code == 401]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            entra_error(401, "invalid_client", 7000215, "Invalid client secret provided."),
            "client secret is wrong or expired",
        ),
        (
            entra_error(
                400, "invalid_scope", 1002012, "The provided value for scope is not valid."
            ),
            "scope must be the environment URL followed by /.default",
        ),
        (entra_error(400, "invalid_request", 90002, "Tenant 'x' not found."), "check tenant_id"),
        (
            entra_error(400, "unauthorized_client", 700016, "Application was not found."),
            "not allowed to use client credentials",
        ),
    ],
)
async def test_entra_refusals_are_admin_problems_with_a_hint(
    respx_mock: respx.MockRouter, answer: httpx.Response, words: str
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=answer)
    src = source()
    with capture_logs() as logs, pytest.raises(AuthError) as caught:
        await read(src)
    await src.aclose()
    text = str(caught.value)
    assert words in text
    assert "AADSTS" in text
    assert "Trace ID" not in text, "the trace noise is trimmed"
    assert SECRET not in text + json.dumps(logs, default=str)


async def test_check_reports_when_change_tracking_is_off(respx_mock: respx.MockRouter) -> None:
    metadata(respx_mock, change_tracking=False)
    respx_mock.post(TOKEN_URL).mock(return_value=token())
    respx_mock.get(url__startswith=DEALS).mock(
        return_value=httpx.Response(
            200,
            json={"value": []},
            headers={"x-ms-ratelimit-burst-remaining-xrm-requests": "5990"},
        )
    )
    src = source()
    health = await src.check()
    await src.aclose()
    assert health.ok
    assert "modifiedon polling" in health.detail
    assert "Track changes is off" in health.detail
    assert health.api_usage == "5990 requests left in this 5-minute window (one web server)"


async def test_check_reports_a_refusal_instead_of_raising(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=entra_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
    )
    src = source()
    health = await src.check()
    await src.aclose()
    assert not health.ok
    assert "invalid_client" in health.detail


async def test_every_failure_is_a_connector_error_naming_the_connector(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token())
    respx_mock.get(url__startswith=API).mock(return_value=error(404, "", "not here"))
    src = source()
    with pytest.raises(ConnectorError) as caught:
        await read(src)
    await src.aclose()
    assert caught.value.connector == "crm"
    assert caught.value.operation == "read metadata"
