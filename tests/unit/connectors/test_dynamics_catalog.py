"""Dynamics field catalog from the metadata API, the read plan from mapping paths, and config."""

from __future__ import annotations

import pytest
import respx
from pydantic import ValidationError

from connectors.sales.dynamics.metadata import TableSchema, parse_attributes, with_options
from connectors.sales.dynamics.needs import UnknownColumn, navigations_of, plan_read
from tests.fixtures.dynamics.builders import (
    ACCOUNT_ATTRIBUTES,
    OPPORTUNITY_ATTRIBUTES,
    SECRET,
    SECRET_ENV,
    TOKEN_URL,
    attribute,
    choice,
    config,
    metadata,
    source,
    token,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


async def test_catalog_lists_custom_columns_lookups_and_choice_labels(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    respx_mock.post(TOKEN_URL).mock(return_value=token())
    src = source(related=("parentaccountid",))
    fields = {f.path: f for f in await src.field_catalog()}
    await src.aclose()
    assert fields["new_specialdiscount"].custom
    assert fields["new_specialdiscount"].label == "Special discount"
    assert not fields["name"].custom
    assert fields["_parentaccountid_value"].type == "lookup", "lookups as the Web API names them"
    assert "parentaccountid" not in fields
    assert fields["new_paymentterms"].choices == ("Net 30", "Net 45", "Net 60")
    assert fields["new_region"].choices == ("North", "South"), "global choice options"
    assert fields["new_freeservices"].type == "multiselectpicklist"
    assert fields["statecode"].choices == ("Open", "Won", "Lost")
    assert fields["parentaccountid.new_customernumber"].custom
    assert fields["parentaccountid.industrycode"].choices == ("Consulting",)
    assert "parentaccountidname" not in fields, "a companion column cannot be selected"
    assert "new_hidden" not in fields, "an unreadable column is left out"
    assert not any(f.writable for f in fields.values())


async def test_metadata_is_read_once_and_reused_until_it_is_old(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    respx_mock.post(TOKEN_URL).mock(return_value=token())
    src = source(related=("parentaccountid",), metadata_max_age=600)
    await src.field_catalog()
    first = len(respx_mock.calls)
    await src.field_catalog()
    assert len(respx_mock.calls) == first, "cached"
    await src.api.timing.sleep(601)
    await src.field_catalog()
    await src.aclose()
    assert len(respx_mock.calls) > first, "read again once older than metadata_max_age"


def schema(items: list[dict[str, object]], logical: str = "opportunity") -> TableSchema:
    columns = parse_attributes(items)
    return TableSchema(logical_name=logical, columns=columns)


def test_option_labels_fall_back_to_the_first_localized_label() -> None:
    columns = parse_attributes([attribute("new_kind", "Picklist")])
    item = choice("new_kind", {1: "One"})
    option = item["OptionSet"]["Options"][0]
    option["Label"]["UserLocalizedLabel"] = None
    option["Label"]["LocalizedLabels"][0]["LanguageCode"] = 1031
    labelled = with_options(columns, [item])
    assert labelled["new_kind"].options == {1: "One"}


def test_the_read_plan_selects_what_the_mapping_reads_and_expands_the_account() -> None:
    deals, account = schema(OPPORTUNITY_ATTRIBUTES), schema(ACCOUNT_ATTRIBUTES, "account")
    plan = plan_read(
        ["name", "parentaccountid.websiteurl", "parentaccountid.name", "name"],
        deals,
        {"parentaccountid": account},
    )
    assert plan.params() == {
        "$select": "modifiedon,name,_parentaccountid_value",
        "$expand": "parentaccountid($select=websiteurl,name)",
    }


def test_no_paths_select_every_column_of_every_configured_navigation() -> None:
    deals, account = schema(OPPORTUNITY_ATTRIBUTES), schema(ACCOUNT_ATTRIBUTES, "account")
    plan = plan_read([], deals, {"parentaccountid": account})
    assert plan.params() == {"$expand": "parentaccountid"}
    assert navigations_of([], ("parentaccountid", "parentcontactid")) == (
        "parentaccountid",
        "parentcontactid",
    )
    assert navigations_of(
        ["name", "parentcontactid.emailaddress1"], ("parentaccountid", "parentcontactid")
    ) == ("parentcontactid",)


def test_a_path_two_navigation_steps_deep_is_refused_with_the_reason() -> None:
    deals, account = schema(OPPORTUNITY_ATTRIBUTES), schema(ACCOUNT_ATTRIBUTES, "account")
    with pytest.raises(UnknownColumn, match="only one navigation step"):
        plan_read(
            ["parentaccountid.primarycontactid.emailaddress1"], deals, {"parentaccountid": account}
        )


def test_config_builds_the_token_endpoint_and_scope_from_tenant_and_environment() -> None:
    cfg = config(base_url="https://contoso.crm4.dynamics.com/api/data/v9.2/")
    assert cfg.base_url == "https://contoso.crm4.dynamics.com"
    assert cfg.api_root == "https://contoso.crm4.dynamics.com/api/data/v9.2"
    assert cfg.scope == "https://contoso.crm4.dynamics.com/.default"
    assert cfg.auth.endpoint() == TOKEN_URL


def test_config_refuses_a_scope_without_default_and_an_inline_secret() -> None:
    with pytest.raises(ValidationError, match=r"/\.default"):
        config(
            auth={
                "tenant_id": "t",
                "client_id": "c",
                "client_secret": "${DYN_UNIT_SECRET}",
                "scope": "https://contoso.crm4.dynamics.com/user_impersonation",
            }
        )
    with pytest.raises(ValidationError, match="inline secrets are refused"):
        config(auth={"tenant_id": "t", "client_id": "c", "client_secret": "hunter2"})


def test_config_refuses_page_sizes_dataverse_cannot_serve_and_unknown_navigations() -> None:
    with pytest.raises(ValidationError):
        config(page_size=5001)
    with pytest.raises(ValidationError, match="unknown navigation properties 'ownerid'"):
        config(related=("ownerid",))
