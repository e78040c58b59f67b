"""Mappings turn vendor payloads into canonical terms and explain what they cannot read."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.base import UNREADABLE, SourceDeal, unreadable, unreadable_reason
from connectors.errors import ConfigError
from sync_jobs.config.yamlio import parse_yaml
from sync_jobs.domain.mapping import (
    Mapping,
    MappingFailed,
    MappingSpec,
    load_mapping_spec,
    resolve_path,
)

SPEC = """
record: organization
active_when: {field: stage, in: ["Closed Won"]}
identity:
  - {from: Account.Customer_Number__c, match: external_id}
  - {from: OpportunityContactRoles.Contact.Email, match: email}
  - {from: Account.Website, match: domain}
terms:
  stage: {from: StageName}
  amount: {from: Amount, type: money}
  account_name: {from: Account.Name}
  discount_percent: {from: Special_Discount__c, type: percent}
  payment_terms: {from: Payment_Terms__c, type: enum, values: {"Net 30": net30, "Net 60": net60}}
  free_services: {from: Free_Services__c, type: list, separator: ";"}
  valid_until: {from: Terms_Valid_Until__c, type: date, required: true}
write:
  organization_fields.special_discount: {value: discount_percent}
"""
MODIFIED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def mapping(text: str = SPEC) -> Mapping:
    spec = MappingSpec.model_validate(parse_yaml(text, "test.yaml"))
    return Mapping(
        spec, job="west", source="sf", system="salesforce", territory="West", base_dir=Path()
    )


def deal(**fields: object) -> SourceDeal:
    payload: dict[str, object] = {
        "StageName": "Closed Won",
        "Amount": 120000.0,
        "Special_Discount__c": 15.0,
        "Payment_Terms__c": "Net 60",
        "Free_Services__c": "Onsite training;Priority support",
        "Terms_Valid_Until__c": "2027-03-31",
        "Account": {
            "Name": "Acme",
            "Customer_Number__c": "CUST-1001",
            "Website": "https://www.Acme.example/about",
        },
        "OpportunityContactRoles": [{"Contact": {"Email": "Ops@Acme.example"}}, {"Contact": None}],
    }
    payload.update(fields)
    return SourceDeal(id="006A", modified_at=MODIFIED, payload=payload)


def test_a_salesforce_deal_maps_to_canonical_terms() -> None:
    terms = mapping().apply(deal())
    assert terms.discount_percent == Decimal(15)
    assert terms.payment_terms == "net60"
    assert terms.free_services == ("Onsite training", "Priority support")
    assert terms.valid_until == date(2027, 3, 31)
    assert terms.amount == Decimal("120000.00")
    assert terms.active
    assert terms.account.name == "Acme"


def test_identity_values_are_normalised_for_matching() -> None:
    account = mapping().apply(deal()).account
    assert account.external_ids == ("cust-1001",)
    assert account.emails == ("ops@acme.example",)
    assert account.domains == ("acme.example",)


def test_numbers_sent_as_strings_are_typed_like_numbers() -> None:
    terms = mapping().apply(deal(Special_Discount__c="12.5%", Amount="1,200.00"))
    assert terms.discount_percent == Decimal("12.5")
    assert terms.amount == Decimal("1200.00")


def test_null_relationship_fields_map_to_empty_identity() -> None:
    terms = mapping().apply(deal(Account=None, OpportunityContactRoles=None))
    assert terms.account.external_ids == ()
    assert terms.account.name is None


def test_a_lost_deal_is_not_active() -> None:
    assert not mapping().apply(deal(StageName="Closed Lost")).active


def test_every_bad_field_is_reported_with_path_and_value() -> None:
    with pytest.raises(MappingFailed) as caught:
        mapping().apply(
            deal(Special_Discount__c="lots", Payment_Terms__c="Net 90", Terms_Valid_Until__c=None)
        )
    text = str(caught.value)
    assert (
        "discount_percent (source field Special_Discount__c = 'lots'): 'lots' is not a number"
        in text
    )
    assert "'Net 90' is not in the value map" in text
    assert "valid_until (source field Terms_Valid_Until__c = None): is required but empty" in text
    assert caught.value.deal_id == "006A"


def test_paths_crossing_lists_map_over_their_items() -> None:
    payload = {"contacts": [{"properties": {"email": "a@x"}}, {"properties": {"email": "b@x"}}]}
    assert resolve_path(payload, "contacts.properties.email") == ["a@x", "b@x"]
    assert resolve_path(payload, "missing.path") is None


def test_unknown_canonical_field_is_refused_with_the_allowed_names(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC.replace("stage: {from: StageName}", "stgae: {from: StageName}"))
    with pytest.raises(ConfigError) as caught:
        load_mapping_spec(path)
    assert "unknown canonical field(s) stgae" in str(caught.value)


def test_a_mapping_error_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "west.yaml"
    path.write_text(SPEC.replace("type: percent", "type: percentage"))
    with pytest.raises(ConfigError) as caught:
        load_mapping_spec(path)
    problem = caught.value.problems[0]
    assert problem.file == str(path)
    assert problem.line == 12  # the discount_percent line (SPEC starts with a newline)
    assert problem.key == "terms.discount_percent.type"
    assert "'percent'" in problem.message


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("record: organization\nterms:\n  a: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_mapping_spec(path)
    assert caught.value.problems[0].line is not None
    assert "YAML syntax" in caught.value.problems[0].message


# --- values the source could not read ---------------------------------------------------------


def test_an_unreadable_value_fails_the_deal_even_for_a_text_term() -> None:
    bad = deal(Payment_Terms__c=unreadable("option 99 of 'Payment terms' has no label"))
    text_spec = SPEC.replace(
        'payment_terms: {from: Payment_Terms__c, type: enum, values: {"Net 30": net30, '
        '"Net 60": net60}}',
        "payment_terms: {from: Payment_Terms__c}",
    )
    with pytest.raises(MappingFailed) as caught:
        mapping(text_spec).apply(bad)
    [problem] = caught.value.problems
    assert problem.field == "payment_terms"
    assert problem.path == "Payment_Terms__c"
    assert problem.value == "<unreadable>"
    assert "option 99 of 'Payment terms' has no label" in str(caught.value)


def test_an_unreadable_item_in_a_list_fails_the_list_term() -> None:
    bad = deal(Free_Services__c=["Onsite training", unreadable("option 7 has no label")])
    with pytest.raises(MappingFailed, match="option 7 has no label"):
        mapping().apply(bad)


def test_a_path_through_an_unreadable_related_record_fails_terms_and_identity() -> None:
    bad = deal(Account=unreadable("organization 42 was deleted"))
    with pytest.raises(MappingFailed) as caught:
        mapping().apply(bad)
    fields = {p.field for p in caught.value.problems}
    assert fields == {"account_name", "identity[0]", "identity[2]"}
    assert all("organization 42 was deleted" in p.message for p in caught.value.problems)


def test_resolve_path_stops_at_an_unreadable_marker() -> None:
    payload = {"org": unreadable("gone"), "orgs": [{"name": "A"}, unreadable("gone too")]}
    assert unreadable_reason(resolve_path(payload, "org.name")) == "gone"
    found = resolve_path(payload, "orgs.name")
    assert isinstance(found, list)
    assert found[0] == "A"
    assert unreadable_reason(found[1]) == "gone too"


def test_a_plain_dict_with_other_keys_is_not_a_marker() -> None:
    assert unreadable_reason({UNREADABLE: "x", "other": 1}) is None
    assert unreadable_reason({"value": 1}) is None
    assert unreadable_reason("$unreadable") is None
