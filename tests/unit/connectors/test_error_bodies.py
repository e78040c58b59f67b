"""Vendors' error bodies are decoded as their answers are: one broken character in an error's
text becomes U+FFFD in the message, which the state store can then hold (a record's error is
stored with its work item; a lone surrogate there stopped the whole run)."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.errors import ConnectorError
from connectors.http import default_limits
from connectors.ratelimit import LONGEST_RETRY_AFTER, LimitSignal, VendorGate
from connectors.responses import json_body, json_object
from connectors.sales.dynamics.errors import classify_token as dynamics_token
from connectors.sales.dynamics.errors import make_classifier as dynamics_classifier
from connectors.sales.dynamics.errors import read_limits as dynamics_limits
from connectors.sales.hubspot.auth import classify_token as hubspot_token
from connectors.sales.hubspot.errors import classify as hubspot_classify
from connectors.sales.hubspot.errors import read_limits as hubspot_limits
from connectors.sales.pipedrive.errors import Classifier as PipedriveClassifier
from connectors.sales.pipedrive.errors import classify_token as pipedrive_token
from connectors.sales.pipedrive.errors import read_limits as pipedrive_limits
from connectors.sales.zoho.errors import CreditMeter
from connectors.sales.zoho.errors import classify_token as zoho_token
from connectors.sales.zoho.errors import make_classifier as zoho_classifier
from connectors.salesforce_common.errors import make_classifier as salesforce_classifier
from connectors.salesforce_common.errors import read_limits as salesforce_limits
from connectors.salesforce_common.errors import token_classifier as salesforce_token
from connectors.service.freshdesk.errors import classify as freshdesk_classify
from connectors.service.freshdesk.errors import read_limits as freshdesk_limits
from connectors.service.intercom.errors import classify as intercom_classify
from connectors.service.intercom.errors import read_limits as intercom_limits
from connectors.service.servicenow.auth import classify_token as servicenow_token
from connectors.service.servicenow.errors import make_classifier as servicenow_classifier
from connectors.service.servicenow.errors import read_limits as servicenow_limits
from connectors.service.zendesk.errors import classify as zendesk_classify
from connectors.service.zendesk.errors import read_limits as zendesk_limits

CONNECTORS = Path(__file__).resolve().parents[3] / "connectors"

BROKEN = "Name \\ud83d is invalid"
"""An error text as a vendor escapes it: half an emoji, cut where UTF-16 splits it."""

Classify = Callable[[httpx.Response], ConnectorError | None]

ERROR_BODIES: dict[str, tuple[Classify, str]] = {
    "zendesk": (zendesk_classify, f'{{"error": "RecordInvalid", "description": "{BROKEN}"}}'),
    "freshdesk": (
        freshdesk_classify,
        f'{{"description": "Validation failed", "errors": [{{"field": "name", '
        f'"message": "{BROKEN}", "code": "invalid_value"}}]}}',
    ),
    "intercom": (
        intercom_classify,
        f'{{"type": "error.list", "errors": [{{"code": "parameter_invalid", '
        f'"message": "{BROKEN}"}}]}}',
    ),
    "servicenow": (
        servicenow_classifier(120.0),
        f'{{"error": {{"message": "{BROKEN}", "detail": null}}, "status": "failure"}}',
    ),
    "salesforce": (
        salesforce_classifier(60.0),
        f'[{{"message": "{BROKEN}", "errorCode": "INVALID_FIELD"}}]',
    ),
    "hubspot": (
        hubspot_classify,
        f'{{"status": "error", "message": "{BROKEN}", "category": "VALIDATION_ERROR"}}',
    ),
    "pipedrive": (
        PipedriveClassifier(lambda: datetime.now(UTC)),
        f'{{"success": false, "error": "{BROKEN}"}}',
    ),
    "dynamics": (
        dynamics_classifier(300.0),
        f'{{"error": {{"code": "0x80040203", "message": "{BROKEN}"}}}}',
    ),
    "zoho": (
        zoho_classifier(CreditMeter(reserve=0, throttle_wait=60.0), lambda _response: None),
        f'{{"code": "INVALID_DATA", "details": {{}}, "message": "{BROKEN}", "status": "error"}}',
    ),
}


def answer(status: int, body: str) -> httpx.Response:
    request = httpx.Request("POST", "https://vendor.example/api/things")
    return httpx.Response(
        status, content=body.encode(), headers={"content-type": "application/json"}, request=request
    )


@pytest.mark.parametrize("vendor", sorted(ERROR_BODIES))
def test_a_broken_character_in_a_vendors_error_text_reads_as_the_replacement_character(
    vendor: str,
) -> None:
    classify, body = ERROR_BODIES[vendor]
    error = classify(answer(400, body))
    assert error is not None
    message = str(error)
    assert "Name \ufffd is invalid" in message, message
    message.encode("utf-8")  # what the store does with it: must not raise


def test_json_body_is_none_for_a_body_that_is_not_json_or_was_not_read() -> None:
    assert json_body(answer(502, "<html>Bad gateway</html>")) is None
    assert json_body(answer(400, "\xff\xfe{")) is None
    streamed = httpx.Response(400, stream=httpx.ByteStream(b'{"a": 1}'))
    assert json_body(streamed) is None


def test_json_object_is_empty_for_json_that_is_not_an_object() -> None:
    assert json_object(answer(400, '["a list"]')) == {}
    assert json_object(answer(400, '{"error": "x"}')) == {"error": "x"}


def response_json_calls(path: Path) -> list[int]:
    """Lines where ``<something>.json()`` is called with no arguments (httpx's decoder)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "json"
        and not node.args
    ]


def test_connectors_decode_vendor_bodies_only_through_the_shared_decoder() -> None:
    """``response.json()`` would bring lone surrogates back; simulators (servers reading our
    requests) are not vendor answers and are left out."""
    found: dict[str, Any] = {}
    for path in sorted(CONNECTORS.rglob("*.py")):
        if "simulator" in path.parts:
            continue
        lines = response_json_calls(path)
        if lines:
            found[str(path.relative_to(CONNECTORS))] = lines
    assert found == {}


def test_a_vendor_code_the_message_already_ends_with_is_not_said_twice() -> None:
    request = httpx.Request("PUT", "https://acme.freshdesk.com/api/v2/companies/1")
    body = {
        "description": "Validation failed",
        "errors": [{"field": "name", "message": "bad", "code": "invalid_value"}],
    }
    error = freshdesk_classify(httpx.Response(400, json=body, request=request))
    assert str(error) == "HTTP 400: Validation failed: name: bad (invalid_value)"
    assert error is not None
    assert error.vendor_code == "invalid_value"


HOSTILE_TEXT = st.lists(
    st.sampled_from(["\ud83d", "\udfff", "\x00", "\u202e", "é", "{{", "\n"]) | st.characters(),
    max_size=6,
).map("".join)
"""Text as vendors may echo it: lone surrogates (``st.text()`` never draws them), NUL,
bidirectional overrides, template braces."""

ERROR_KEYS = st.sampled_from(
    [
        "error",
        "errors",
        "message",
        "description",
        "details",
        "code",
        "errorCode",
        "data",
        "status",
        "category",
        "error_description",
        "fields",
        "field",
        "title",
        "type",
    ]
)

JSON_BODIES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(ERROR_KEYS | HOSTILE_TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    vendor=st.sampled_from(sorted(ERROR_BODIES)),
    status=st.sampled_from([400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503]),
    body=JSON_BODIES.map(lambda value: json.dumps(value).encode()) | st.binary(max_size=40),
)
@example(vendor="freshdesk", status=400, body=b'{"errors": true}')  # found by this test
def test_any_error_body_is_classified_into_an_error_the_store_can_hold(
    vendor: str, status: int, body: bytes
) -> None:
    classify, _ = ERROR_BODIES[vendor]
    request = httpx.Request("PUT", "https://vendor.example/api/things/1")
    error = classify(httpx.Response(status, content=body, request=request))
    assert isinstance(error, ConnectorError)
    str(error).encode("utf-8")


TOKEN_CLASSIFIERS: dict[str, Classify] = {
    "hubspot": hubspot_token,
    "dynamics": dynamics_token,
    "pipedrive": pipedrive_token,
    "zoho": zoho_token,
    "servicenow": servicenow_token,
    "salesforce": salesforce_token("client_credentials"),
}


@settings(max_examples=300, deadline=None)
@given(
    vendor=st.sampled_from(sorted(TOKEN_CLASSIFIERS)),
    status=st.sampled_from([400, 401, 403, 429, 500, 503]),
    body=JSON_BODIES.map(lambda value: json.dumps(value).encode()) | st.binary(max_size=40),
)
def test_any_token_endpoint_refusal_is_classified_into_an_error_the_store_can_hold(
    vendor: str, status: int, body: bytes
) -> None:
    request = httpx.Request("POST", "https://login.vendor.example/oauth/token")
    error = TOKEN_CLASSIFIERS[vendor](httpx.Response(status, content=body, request=request))
    if error is not None:
        str(error).encode("utf-8")


HEADER_NAMES = st.sampled_from(
    [
        "retry-after",
        "x-ratelimit-reset",
        "x-ratelimit-remaining",
        "x-ratelimit-limit",
        "x-ratelimit-total",
        "x-ratelimit-rule",
        "x-rate-limit",
        "x-rate-limit-remaining",
        "ratelimit-reset",
        "ratelimit-remaining",
        "ratelimit-limit",
        "sforce-limit-info",
        "x-hubspot-ratelimit-remaining",
        "x-hubspot-ratelimit-max",
        "x-hubspot-ratelimit-interval-milliseconds",
        "x-ms-ratelimit-burst-remaining-xrm-requests",
        "x-ratelimit-day-limit",
        "x-ratelimit-day-remaining",
        "zendesk-ratelimit-organizations-update-many",
        "x-rate-limit-remaining-seconds",
        "date",
    ]
)
NUMBERISH = st.sampled_from(
    [
        "inf",
        "-inf",
        "nan",
        "1e400",
        "-1e400",
        "99999999999999999999",
        "9" * 5000,
        "-5",
        "0",
        "1.5",
        "abc",
        "",
        "api-usage=5/1e400",
        "total=30; remaining=-1; resets=1e400",
        "Thu, 01 Jan 9999 23:59:59 GMT",
        "Mon, 01 Jan 0001 00:00:00 +0100",
    ]
) | st.integers(-(10**30), 10**30).map(str)
HOSTILE_HEADERS = st.dictionaries(HEADER_NAMES, NUMBERISH, max_size=4)

LIMIT_READERS: dict[str, Callable[[httpx.Response], object]] = {
    "default": default_limits,
    "zendesk": zendesk_limits,
    "freshdesk": freshdesk_limits,
    "intercom": intercom_limits,
    "servicenow": servicenow_limits,
    "salesforce": salesforce_limits,
    "hubspot": hubspot_limits,
    "pipedrive": pipedrive_limits,
    "dynamics": dynamics_limits,
    "zoho": CreditMeter(reserve=0, throttle_wait=60.0).observe,
}


@settings(max_examples=300, deadline=None)
@given(
    vendor=st.sampled_from(sorted(LIMIT_READERS)),
    status=st.sampled_from([200, 429, 503]),
    headers=HOSTILE_HEADERS,
)
def test_any_rate_limit_headers_are_read_into_a_signal_the_gate_takes(
    vendor: str, status: int, headers: dict[str, str]
) -> None:
    request = httpx.Request("GET", "https://vendor.example/api/things")
    signal = LIMIT_READERS[vendor](httpx.Response(status, headers=headers, request=request))
    if isinstance(signal, LimitSignal):
        gate = VendorGate()
        gate.observe(signal)
        assert gate.blocked_for <= LONGEST_RETRY_AFTER  # never a wait for ever


@settings(max_examples=300, deadline=None)
@given(
    vendor=st.sampled_from(sorted(ERROR_BODIES)),
    status=st.sampled_from([429, 503]),
    headers=HOSTILE_HEADERS,
)
def test_any_rate_limit_headers_on_a_refusal_classify_into_an_error(
    vendor: str, status: int, headers: dict[str, str]
) -> None:
    classify, _ = ERROR_BODIES[vendor]
    request = httpx.Request("GET", "https://vendor.example/api/things")
    error = classify(httpx.Response(status, headers=headers, request=request))
    assert isinstance(error, ConnectorError)
    str(error).encode("utf-8")
