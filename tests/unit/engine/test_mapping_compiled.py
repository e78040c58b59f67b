"""A compiled mapping (each rule read by a function made for its path and type) maps every
deal exactly as the plain reading does (``mapping_reference``): the same terms, or the same
problems, or the same error, for any mapping and any JSON-shaped payload, markers included."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.base import SourceDeal, unreadable
from sync_jobs.domain.mapping import Mapping, MappingSpec, TermRule, _compile_rule
from tests.unit.engine.mapping_reference import reference_apply, reference_read

KEYS = ["a", "b", "c", "$unreadable"]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 200)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.sampled_from(
        ["", " ", "x", " Net 30 ", "Net 30", "15%", "1,200.00", "2027-03-31", "yes", "a;b;;c"]
    )
    | st.sampled_from(["2026-11-20T09:30:00.000+0000", "Www.Acme.Example/x", "Ops@Acme.example"])
    | st.text(alphabet=" \tab1;%.", max_size=4).map(lambda text: f" {text}\n")
    | st.text(max_size=4)
)
MARKERS = st.builds(unreadable, st.text(max_size=5))
PAYLOADS = st.recursive(
    SCALARS | MARKERS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    max_leaves=14,
)
PATHS = st.sampled_from(["a", "b", "a.b", "b.a", "a.a"]) | st.lists(
    st.sampled_from(KEYS), min_size=1, max_size=3
).map(".".join)
"""Mostly the one- and two-part paths the compiled readers take directly."""
FLAT = st.dictionaries(st.sampled_from(KEYS), SCALARS | MARKERS, max_size=3)
"""Most payloads are fields and parent records of fields: the shapes the fast readers take."""
DEAL_PAYLOADS = st.fixed_dictionaries(
    {}, optional={"a": SCALARS | FLAT | MARKERS, "b": SCALARS | FLAT | PAYLOADS}
) | st.dictionaries(st.sampled_from(KEYS), SCALARS | FLAT | PAYLOADS, max_size=4)
TYPES = [
    "text",
    "text",
    "text",
    "decimal",
    "percent",
    "money",
    "date",
    "datetime",
    "bool",
    "enum",
    "list",
]
NAMES = [
    "name",
    "stage",
    "amount",
    "close_date",
    "account_name",
    "account_phone",
    "discount_percent",
    "free_services",
    "valid_until",
    "custom.tier",
    "custom.flag",
]


@st.composite
def rules(draw: st.DrawFn) -> dict[str, Any]:
    rule: dict[str, Any] = {"type": draw(st.sampled_from(TYPES))}
    if draw(st.integers(0, 4)):  # most rules read a path
        rule["from"] = draw(PATHS)
    if draw(st.booleans()) or "from" not in rule:
        rule["default"] = draw(
            SCALARS.filter(lambda v: v is not None) | st.lists(SCALARS, max_size=2)
        )
    if rule["type"] == "enum":
        rule["values"] = {"Net 30": "net30", "x": "ex", "1": "one", "True": "yes"}
    if rule["type"] == "list":
        rule["separator"] = draw(st.sampled_from([";", ","]))
    rule["required"] = draw(st.booleans())
    return rule


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    terms = draw(st.dictionaries(st.sampled_from(NAMES), rules(), min_size=1, max_size=6))
    identity = draw(
        st.lists(
            st.fixed_dictionaries(
                {"from": PATHS, "match": st.sampled_from(["external_id", "email", "domain"])}
            ),
            min_size=1,
            max_size=3,
        )
    )
    doc: dict[str, Any] = {"record": "organization", "identity": identity, "terms": terms}
    if draw(st.booleans()):
        doc["active_when"] = {"field": draw(st.sampled_from(NAMES)), "in": ["Net 30", "x"]}
    return doc


def outcome(apply: Any, argument: Any) -> tuple[str, Any]:
    try:
        return "answer", apply(argument)
    except Exception as exc:  # noqa: BLE001 - any failure must be the same failure
        return type(exc).__name__, str(exc)


ONE_IDENTITY = {
    "record": "organization",
    "identity": [{"from": "a", "match": "external_id"}, {"from": "a.b", "match": "domain"}],
    "terms": {"name": {"from": "c"}},
}
"""Identity paths of one and two parts (read by functions made for them)."""


@settings(max_examples=1000, deadline=None)
@given(doc=specs(), payload=DEAL_PAYLOADS)
@example(doc=ONE_IDENTITY, payload={"a": " "})
@example(doc=ONE_IDENTITY, payload={"a": {"b": " Www.Acme.example "}})
@example(doc=ONE_IDENTITY, payload={"a": {"b": ""}})
@example(doc=ONE_IDENTITY, payload={"a": unreadable("gone")})
@example(doc=ONE_IDENTITY, payload={"$unreadable": "gone"})
@example(doc=ONE_IDENTITY, payload={"a": [" x ", {"b": "y"}]})
@example(doc=ONE_IDENTITY, payload={"a": ["x", " X ", "y"]})
def test_a_compiled_mapping_maps_every_deal_as_the_plain_reading(
    doc: dict[str, Any], payload: dict[str, Any]
) -> None:
    try:
        spec = MappingSpec.model_validate(doc)
    except ValidationError:
        assume(False)
        raise
    mapping = Mapping(
        spec, job="west", source="sf", system="salesforce", territory="West", base_dir=Path()
    )
    deal = SourceDeal(id="006A", modified_at=datetime(2026, 11, 20, tzinfo=UTC), payload=payload)
    assert outcome(mapping.apply, deal) == outcome(lambda d: reference_apply(mapping, d), deal)


@settings(max_examples=1000, deadline=None)
@given(doc=rules(), payload=DEAL_PAYLOADS)
@example(doc={"from": "a.b"}, payload={"a": unreadable("gone")})
@example(doc={"from": "b"}, payload={"$unreadable": "gone"})
@example(doc={"from": "b", "type": "list"}, payload={"$unreadable": "gone"})
def test_each_compiled_rule_reads_a_payload_as_the_plain_reading(
    doc: dict[str, Any], payload: dict[str, Any]
) -> None:
    try:
        rule = TermRule.model_validate(doc)
    except ValidationError:
        assume(False)
        raise
    assert outcome(_compile_rule(rule), payload) == outcome(
        lambda p: reference_read(rule, p), payload
    )


@settings(max_examples=200, deadline=None)
@given(doc=specs(), payload=DEAL_PAYLOADS)
def test_a_mapping_sent_to_a_worker_process_maps_every_deal_as_the_leads(
    doc: dict[str, Any], payload: dict[str, Any]
) -> None:
    """A helper process gets the lead's compiled mapping pickled (its readers are closures,
    so it is sent as its spec and compiled again there) instead of reading the file again."""
    try:
        spec = MappingSpec.model_validate(doc)
    except ValidationError:
        assume(False)
        raise
    lead = Mapping(
        spec, job="west", source="sf", system="salesforce", territory="West", base_dir=Path("m")
    )
    helper = pickle.loads(pickle.dumps(lead))
    assert (helper.spec, helper.job, helper.source, helper.system) == (
        spec,
        "west",
        "sf",
        "salesforce",
    )
    assert (helper.territory, helper.base_dir) == ("West", Path("m"))
    deal = SourceDeal(id="006A", modified_at=datetime(2026, 11, 20, tzinfo=UTC), payload=payload)
    assert outcome(helper.apply, deal) == outcome(lead.apply, deal)
