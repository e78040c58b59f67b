"""The one classify skeleton: a vendor's table decides, in a fixed order, what an answer means."""

from __future__ import annotations

import re

import httpx
import pytest

from connectors.error_table import Described, ErrorTable, one_record_rule
from connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RateLimited,
    RecordError,
    TransientError,
)
from connectors.responses import header_int, short_text, text_or_none


def answer(status: int, path: str = "/api/things", body: object = None) -> httpx.Response:
    request = httpx.Request("GET", f"https://vendor.example{path}")
    if body is None:
        return httpx.Response(status, request=request, text="plain words")
    return httpx.Response(status, request=request, json=body)


def describe(response: httpx.Response) -> Described:
    body = response.json() if response.headers.get("content-type") == "application/json" else {}
    return Described(str(body.get("message", "failed")), body.get("code"), body.get("field"))


def throttled(response: httpx.Response, described: Described) -> ConnectorError | None:
    return RateLimited(described.message, retry_after=3) if response.status_code == 429 else None


TABLE = ErrorTable(
    vendor="Acme",
    describe=describe,
    by_status={401: "auth", 404: "admin", 409: "transient"},
    auth_hint=" (check the key)",
    by_code={"locked": "admin"},
    record=one_record_rule(re.compile(r"/things/\d+$"), {404, 422}),
    special=throttled,
)


def test_success_is_no_error_and_a_redirect_is_the_admins_base_url() -> None:
    assert TABLE.classify(answer(200)) is None
    redirect = TABLE.classify(answer(301))
    assert isinstance(redirect, PermanentError)
    assert redirect.who_acts == "admin"
    assert "Acme redirected the request (HTTP 301); check base_url" in str(redirect)


@pytest.mark.parametrize(
    ("status", "path", "body", "expected", "who"),
    [
        (401, "/things", {"message": "no"}, AuthError, "admin"),
        (404, "/things", {"message": "no"}, PermanentError, "admin"),
        (404, "/things/7", {"message": "gone"}, RecordError, None),
        (422, "/things/7", {"message": "bad", "field": "name"}, RecordError, None),
        (422, "/things", {"message": "bad"}, PermanentError, "developer"),
        (409, "/things", {"message": "busy"}, TransientError, None),
        (400, "/things", {"message": "locked", "code": "locked"}, PermanentError, "admin"),
        (418, "/things", {"message": "teapot"}, PermanentError, "developer"),
        (502, "/things", {"message": "down"}, TransientError, None),
        (429, "/things/7", {"message": "slow down"}, RateLimited, None),
    ],
)
def test_special_then_record_then_code_then_status_then_the_default_decide(
    status: int, path: str, body: object, expected: type[ConnectorError], who: str | None
) -> None:
    error = TABLE.classify(answer(status, path, body))
    assert type(error) is expected
    if who is not None:
        assert isinstance(error, PermanentError)
        assert error.who_acts == who


def test_the_auth_hint_and_the_blamed_field_reach_the_error() -> None:
    error = TABLE.classify(answer(401, body={"message": "Key refused"}))
    assert str(error).endswith("Key refused (check the key)")
    record = TABLE.classify(answer(422, "/things/7", {"message": "bad", "field": "name"}))
    assert isinstance(record, RecordError)
    assert record.field == "name"


def test_response_readers_never_fail_on_odd_input() -> None:
    assert short_text(answer(500), "fallback") == "plain words"
    assert short_text(httpx.Response(500, text="  "), "fallback") == "fallback"
    assert text_or_none("") is None
    assert text_or_none(0) == "0"
    assert header_int("60, 60;w=60") == 60
    assert header_int("59.0") == 59
    assert header_int("soon") is None
    assert header_int(None) is None


def test_a_table_without_a_redirect_hint_lets_a_redirect_through() -> None:
    followed = ErrorTable(vendor="Acme", describe=describe, by_status={}, redirect_hint=None)
    assert followed.classify(answer(302)) is None
    assert isinstance(followed.classify(answer(500, body={"message": "down"})), TransientError)


def test_a_429_no_rule_settles_is_throttling_that_waits_what_retry_after_says() -> None:
    plain = ErrorTable(vendor="Acme", describe=describe, by_status={})
    request = httpx.Request("GET", "https://vendor.example/api/things")
    refused = plain.classify(httpx.Response(429, request=request, headers={"Retry-After": "7"}))
    assert isinstance(refused, RateLimited)
    assert refused.retry_after == 7
    assert refused.status == 429
    assert "Acme rate limit reached" in str(refused)
