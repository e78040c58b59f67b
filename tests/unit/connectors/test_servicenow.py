"""ServiceNow target against respx: auth flows, the error envelope, the Batch API envelope,
the catalog's reading of the dictionary, and value checks (payloads as FACTS.md shows them)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.base import RecordChange, RecordRef
from connectors.errors import AuthError, BudgetExhausted, PermanentError, RateLimited, RecordError
from connectors.registry import get_spec
from connectors.service.servicenow import ServiceNowTarget
from connectors.service.servicenow.batch import BatchItem, envelope, parse
from connectors.service.servicenow.catalog import build_schema, field_infos
from connectors.service.servicenow.errors import make_classifier
from connectors.service.servicenow.query import UncheckedColumn, any_of, updated_after
from connectors.service.servicenow.values import Rejected, decode, encode_fields, same_stored
from connectors.settings import ConnectorOptions

pytestmark = pytest.mark.anyio

BASE = "https://acme.service-now.com"
ACCOUNTS = f"{BASE}/api/now/table/customer_account"
SYS_ID = "d9a1b2c3d4e5f60718293a4b5c6d7e8f"
FAILURE_401 = {
    "error": {
        "message": "User Not Authenticated",
        "detail": "Required to provide Auth information",
    },
    "status": "failure",
}


async def _no_sleep(_seconds: float) -> None:
    return None


def make_target(**config: Any) -> ServiceNowTarget:
    spec = get_spec("servicenow")
    settings = {
        "kind": "servicenow",
        "base_url": f"{BASE}/api/now",
        "auth": {
            "flow": "client_credentials",
            "client_id": "abc123",
            "client_secret": SecretStr("s3cret-value"),
        },
        **config,
    }
    target = spec.factory(
        "desk", spec.config_model.model_validate(settings), ConnectorOptions(sleep=_no_sleep)
    )
    assert isinstance(target, ServiceNowTarget)
    return target


def mock_catalog(router: respx.MockRouter) -> None:
    """The dictionary of a customer_account that extends core_company."""
    objects = {
        "customer_account": {"name": "customer_account", "super_class.name": "core_company"},
        "core_company": {"name": "core_company", "super_class.name": ""},
    }

    def hierarchy(request: httpx.Request) -> httpx.Response:
        names = request.url.params["sysparm_query"].removeprefix("nameIN").split(",")
        return httpx.Response(200, json={"result": [objects[n] for n in names if n in objects]})

    router.get(f"{BASE}/api/now/table/sys_db_object").mock(side_effect=hierarchy)
    columns = [
        {"name": "core_company", "element": "", "internal_type": "collection"},
        {"name": "core_company", "element": "name", "internal_type": "string", "max_length": "80"},
        {
            "name": "core_company",
            "element": "website",
            "internal_type": "url",
            "max_length": "1024",
        },
        {
            "name": "customer_account",
            "element": "notes",
            "internal_type": "string",
            "max_length": "4000",
        },
        {
            "name": "customer_account",
            "element": "number",
            "internal_type": "string",
            "max_length": "40",
            "read_only": "true",
        },
        {
            "name": "customer_account",
            "element": "u_terms",
            "internal_type": "string",
            "max_length": "40",
            "choice": "1",
        },
    ]
    router.get(f"{BASE}/api/now/table/sys_dictionary").mock(
        return_value=httpx.Response(200, json={"result": columns})
    )
    choices = [
        {"name": "customer_account", "element": "u_terms", "value": "net30", "inactive": "false"},
        {"name": "customer_account", "element": "u_terms", "value": "net60", "inactive": "false"},
    ]
    router.get(f"{BASE}/api/now/table/sys_choice").mock(
        return_value=httpx.Response(200, json={"result": choices})
    )


def token_route(router: respx.MockRouter, *tokens: str) -> respx.Route:
    answers = [
        httpx.Response(
            200,
            json={
                "access_token": t,
                "token_type": "Bearer",
                "expires_in": 1799,
                "scope": "useraccount",
            },
        )
        for t in tokens
    ]
    return router.post(f"{BASE}/oauth_token.do").mock(side_effect=answers)


async def test_client_credentials_fetch_a_token_once_and_send_it_as_bearer(
    respx_mock: respx.MockRouter,
) -> None:
    grant = token_route(respx_mock, "tok-1")
    listing = respx_mock.get(ACCOUNTS).mock(return_value=httpx.Response(200, json={"result": []}))
    target = make_target()
    assert (await target.check()).ok
    assert (await target.check()).ok
    form = dict(x.split("=") for x in grant.calls.last.request.content.decode().split("&"))
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "abc123",
        "client_secret": "s3cret-value",
    }
    assert grant.call_count == 1
    assert listing.calls.last.request.headers["authorization"] == "Bearer tok-1"
    assert listing.calls.last.request.headers["accept"] == "application/json"


async def test_an_expired_token_is_replaced_once_and_the_call_replayed(
    respx_mock: respx.MockRouter,
) -> None:
    grant = token_route(respx_mock, "tok-1", "tok-2")
    listing = respx_mock.get(ACCOUNTS).mock(
        side_effect=[
            httpx.Response(401, json=FAILURE_401),
            httpx.Response(200, json={"result": []}),
        ]
    )
    assert (await make_target().check()).ok
    assert grant.call_count == 2
    assert listing.calls.last.request.headers["authorization"] == "Bearer tok-2"


async def test_a_refused_client_is_an_admin_problem_naming_the_grant(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{BASE}/oauth_token.do").mock(
        return_value=httpx.Response(
            401,
            json={"error": "invalid_client", "error_description": "Client authentication failed"},
        )
    )
    health = await make_target().check()
    assert not health.ok
    assert "invalid_client: Client authentication failed" in health.detail
    assert "client credentials grant" in health.detail
    assert "s3cret-value" not in health.detail


async def test_basic_auth_sends_the_integration_user(respx_mock: respx.MockRouter) -> None:
    listing = respx_mock.get(ACCOUNTS).mock(return_value=httpx.Response(200, json={"result": []}))
    target = make_target(auth={"flow": "basic", "username": "svc.db", "password": SecretStr("pw")})
    assert (await target.check()).ok
    expected = "Basic " + base64.b64encode(b"svc.db:pw").decode()
    assert listing.calls.last.request.headers["authorization"] == expected


def _response(
    status: int, body: Any, path: str = "/api/now/table/customer_account", **headers: str
) -> httpx.Response:
    request = httpx.Request("GET", f"{BASE}{path}")
    return httpx.Response(status, json=body, headers=headers, request=request)


def test_the_failure_envelope_is_read_for_every_status() -> None:
    classify = make_classifier(120.0)
    forbidden = {
        "error": {
            "message": "Operation Failed",
            "detail": "ACL Exception Update Failed due to security constraints",
        },
        "status": "failure",
    }
    on_record = classify(_response(403, forbidden, f"/api/now/table/customer_account/{SYS_ID}"))
    assert isinstance(on_record, RecordError)
    assert (
        str(on_record.message)
        == "Operation Failed: ACL Exception Update Failed due to security constraints"
    )
    on_table = classify(_response(403, forbidden))
    assert isinstance(on_table, PermanentError)
    assert on_table.who_acts == "admin"
    assert isinstance(classify(_response(401, FAILURE_401)), AuthError)
    gone = classify(
        _response(
            404,
            {"error": {"message": "No Record found", "detail": None}, "status": "failure"},
            f"/api/now/v2/table/customer_account/{SYS_ID}",
        )
    )
    assert isinstance(gone, RecordError)
    assert gone.message == "No Record found"
    assert (
        classify(
            _response(
                500,
                {
                    "error": {
                        "message": "Transaction cancelled: maximum execution time exceeded",
                        "detail": "",
                    },
                    "status": "failure",
                },
            )
        ).__class__.__name__
        == "TransientError"
    )
    assert classify(_response(200, {"result": []})) is None


def test_a_429_is_waited_out_unless_the_hour_is_spent() -> None:
    now = datetime(2026, 3, 2, 9, 10, tzinfo=UTC)
    classify = make_classifier(120.0, now=lambda: now)
    denied = {
        "error": {
            "message": "Rate limit exceeded",
            "detail": "Rate limit of 100 requests per hour for Table API exceeded",
        },
        "status": "failure",
    }
    short = classify(_response(429, denied, **{"Retry-After": "20"}))
    assert isinstance(short, RateLimited)
    assert short.retry_after == 20
    long = classify(
        _response(
            429,
            denied,
            **{"Retry-After": "3000", "X-RateLimit-Rule": "a" * 32, "X-RateLimit-Limit": "100"},
        )
    )
    assert isinstance(long, BudgetExhausted)
    assert long.until == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert "Rate limit of 100 requests per hour for Table API exceeded" in long.message
    assert f"rule {'a' * 32}" in long.message


def test_the_batch_envelope_carries_base64_json_and_both_headers() -> None:
    items = [
        BatchItem(
            id="0",
            method="PATCH",
            url=f"/api/now/table/customer_account/{SYS_ID}?sysparm_fields=sys_id",
            body={"notes": "Ünïcode ✓"},
        )
    ]
    sent = envelope("batch-1", items)
    (request,) = sent["rest_requests"]
    assert request["url"].startswith("/api/now/table/customer_account/")
    assert {h["name"] for h in request["headers"]} == {"Content-Type", "Accept"}
    assert json.loads(base64.b64decode(request["body"])) == {"notes": "Ünïcode ✓"}
    assert request["exclude_response_headers"] is True


def test_a_batch_answer_is_read_with_missing_ids_counted_as_unserviced() -> None:
    body = {
        "batch_request_id": "batch-1",
        "serviced_requests": [
            {
                "id": "0",
                "status_code": 200,
                "status_text": "OK",
                "body": base64.b64encode(
                    json.dumps({"result": {"sys_id": SYS_ID}}).encode()
                ).decode(),
                "execution_time": 182,
            },
            {
                "id": "1",
                "status_code": 404,
                "status_text": "Not Found",
                "body": "",
                "error_message": "No Record found",
            },
            {"id": "99", "status_code": 200},
        ],
        "unserviced_requests": ["2"],
    }
    answer = parse(body, ["0", "1", "2", "3"])
    assert answer.served["0"].body == {"result": {"sys_id": SYS_ID}}
    assert answer.served["0"].execution_ms == 182
    assert answer.served["1"].status == 404
    assert answer.served["1"].error == "No Record found"
    assert answer.unserviced == ["2", "3"]  # "3" was never mentioned: sent again too


def test_inherited_columns_and_the_nearest_choice_list_make_the_schema() -> None:
    dictionary = [
        {"name": "sys_user", "element": "email", "internal_type": "email", "max_length": "100"},
        {
            "name": "sys_user",
            "element": "u_tier",
            "internal_type": "string",
            "max_length": "40",
            "choice": "1",
        },
        {
            "name": "customer_contact",
            "element": "u_tier",
            "internal_type": "string",
            "max_length": "20",
            "choice": "3",
        },
        {"name": "customer_contact", "element": "u_hint", "internal_type": "string", "choice": "2"},
        {
            "name": "customer_contact",
            "element": "u_old",
            "internal_type": "string",
            "active": "false",
        },
        {"name": "customer_contact", "element": "work_notes", "internal_type": "journal_input"},
        {"name": "other_table", "element": "u_elsewhere", "internal_type": "string"},
    ]
    choices = [
        {"name": "sys_user", "element": "u_tier", "value": "bronze"},
        {"name": "customer_contact", "element": "u_tier", "value": "gold"},
        {"name": "customer_contact", "element": "u_tier", "value": "retired", "inactive": "true"},
        {"name": "customer_contact", "element": "u_hint", "value": "a suggestion"},
    ]
    schema = build_schema("customer_contact", ["customer_contact", "sys_user"], dictionary, choices)
    assert schema.chain == ("customer_contact", "sys_user")
    tier = schema.column("u_tier")
    assert tier is not None
    assert (tier.table, tier.max_length, tier.choices) == ("customer_contact", 20, ("gold",))
    assert schema.has("email")
    assert schema.has("sys_mod_count")
    assert not schema.has("u_elsewhere")
    hint = schema.column("u_hint")
    assert hint is not None
    assert not hint.enforces_choices  # a suggestion field takes free text
    infos = {f.path: f for f in field_infos({"contact": schema})}
    assert set(infos) == {"email", "u_tier", "u_hint"}  # inactive and journal columns left out
    assert infos["u_tier"].choices == ("gold",)
    assert infos["u_tier"].custom
    assert infos["email"].label == "email (contact)"  # no column_label: the column name


async def test_the_catalog_walks_the_hierarchy_and_asks_each_system_table_once(
    respx_mock: respx.MockRouter,
) -> None:
    token_route(respx_mock, "tok-1")
    mock_catalog(respx_mock)
    target = make_target()
    catalog = {f.path: f for f in await target.field_catalog()}
    assert set(catalog) == {"name", "website", "notes", "u_terms"}  # number is read-only
    assert catalog["notes"].max_length == 4000
    assert catalog["u_terms"].choices == ("net30", "net60")
    await target.field_catalog()
    calls = [
        c.request.url.path.rsplit("/", 1)[1]
        for c in respx_mock.calls
        if "/table/sys_" in c.request.url.path
    ]
    assert calls == ["sys_db_object", "sys_db_object", "sys_dictionary", "sys_choice"]


async def test_no_field_list_or_query_is_built_from_an_unknown_column() -> None:
    schema = build_schema(
        "customer_account", [], [{"name": "customer_account", "element": "number"}], []
    )
    assert any_of(schema, "number", ["acct1", "a,b", "x^y"]) == "numberINacct1^ORnumber=a,b"
    with pytest.raises(UncheckedColumn, match="u_numbr"):
        any_of(schema, "u_numbr", ["acct1"])
    assert updated_after("2026-03-02 09:00:00", SYS_ID) == (
        "sys_updated_on>2026-03-02 09:00:00^NQsys_updated_on=2026-03-02 09:00:00"
        f"^sys_id>{SYS_ID}^ORDERBYsys_updated_on^ORDERBYsys_id"
    )


def _schema() -> Any:
    rows = [
        {"name": "t", "element": "u_int", "internal_type": "integer"},
        {"name": "t", "element": "u_dec", "internal_type": "decimal", "max_length": "15"},
        {"name": "t", "element": "u_flag", "internal_type": "boolean"},
        {"name": "t", "element": "u_day", "internal_type": "glide_date"},
        {"name": "t", "element": "u_when", "internal_type": "glide_date_time"},
        {"name": "t", "element": "u_text", "internal_type": "string", "max_length": "5"},
        {"name": "t", "element": "u_ref", "internal_type": "reference"},
    ]
    return build_schema("t", [], rows, [])


def test_values_are_written_in_the_form_servicenow_stores() -> None:
    body = encode_fields(
        _schema(),
        {
            "u_int": Decimal("12"),
            "u_dec": 12.50,
            "u_flag": True,
            "u_day": date(2027, 3, 31),
            "u_when": datetime(2027, 3, 31, 12, 30, tzinfo=UTC),
            "u_text": None,
            "u_ref": SYS_ID,
        },
    )
    assert body == {
        "u_int": "12",
        "u_dec": "12.5",
        "u_flag": "true",
        "u_day": "2027-03-31",
        "u_when": "2027-03-31 12:30:00",
        "u_text": "",
        "u_ref": SYS_ID,
    }
    when = _schema().column("u_when")
    assert decode(when, "2027-03-31 12:30:00") == "2027-03-31T12:30:00+00:00"
    assert decode(None, {"link": "https://x", "value": SYS_ID}) == SYS_ID


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"u_int": 1.5}, "takes whole numbers"),
        ({"u_flag": "maybe"}, "takes true or false"),
        ({"u_text": "too long"}, "holds 5 characters and the value has 8"),
        ({"u_ref": "Acme"}, "refers to another record by sys_id"),
        ({"u_when": "soon"}, "takes a date and time"),
        ({"sys_mod_count": 3}, "'sys_mod_count' is not a column of t"),
    ],
)
def test_values_servicenow_would_take_silently_are_rejected(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(Rejected, match=message):
        encode_fields(_schema(), fields)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False))
def test_a_number_reads_back_equal_however_the_instance_pads_it(number: Decimal) -> None:
    column = _schema().column("u_dec")
    sent = encode_fields(_schema(), {"u_dec": number})["u_dec"]
    assert same_stored(sent, f"{number:.4f}", column)
    assert Decimal(sent) == number


@given(st.text(min_size=0, max_size=8))
def test_text_up_to_the_limit_passes_and_beyond_it_never_does(text: str) -> None:
    try:
        body = encode_fields(_schema(), {"u_text": text})
    except Rejected:
        assert len(text) > 5
    else:
        assert len(text) <= 5
        assert body == {"u_text": text}


async def test_a_single_record_refusal_fails_that_record_only(respx_mock: respx.MockRouter) -> None:
    token_route(respx_mock, "tok-1")
    mock_catalog(respx_mock)
    respx_mock.post(f"{BASE}/api/now/v1/batch").mock(
        return_value=httpx.Response(
            400,
            json={
                "error": {
                    "message": "Requested URI does not represent any resource",
                    "detail": None,
                },
                "status": "failure",
            },
        )
    )
    other = "0123456789abcdef0123456789abcdef"
    respx_mock.patch(f"{ACCOUNTS}/{SYS_ID}").mock(
        return_value=httpx.Response(
            403,
            json={
                "error": {"message": "Operation Failed", "detail": "Data policy violation"},
                "status": "failure",
            },
        )
    )
    respx_mock.patch(f"{ACCOUNTS}/{other}").mock(
        return_value=httpx.Response(
            200, json={"result": {"sys_id": other, "sys_mod_count": "4", "notes": "ok"}}
        )
    )
    target = make_target()
    results = await target.write(
        [
            _change(SYS_ID, notes="refused"),
            _change(other, notes="ok"),
        ]
    )
    assert results[0].error is not None
    assert "Operation Failed: Data policy violation" in results[0].error
    assert "sent notes='refused'" in results[0].error
    assert results[1].ok
    sent = respx_mock.calls.last.request
    assert sent.headers["content-type"] == "application/json"
    assert sent.url.params["sysparm_fields"] == "sys_id,sys_mod_count,notes"


def _change(sys_id: str, **fields: Any) -> RecordChange:
    return RecordChange(ref=RecordRef(kind="account", id=sys_id), fields=fields)
