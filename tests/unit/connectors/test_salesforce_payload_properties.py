"""A query record becomes the same deal payload whichever way it is cleaned: the one-pass
``clean_record`` answers as cleaning the whole record and then emptying the null child
relationships (the reference below, as the connector did it before), for any JSON-shaped
record."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.sales.salesforce.payloads import clean_record

RELATIONSHIPS = ("OpportunityContactRoles", "Partners")
KEYS = st.sampled_from(
    ["attributes", "Id", "Name", "records", "done", "Partners", "opportunitycontactroles", "X"]
)
LEAVES = st.none() | st.booleans() | st.integers() | st.text(max_size=3)
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(KEYS, inner, max_size=4)
        | st.fixed_dictionaries(
            {"totalSize": st.integers(0, 3), "done": st.booleans(), "records": st.lists(inner)}
        )
    ),
    max_leaves=12,
)


def reference_clean(value: Any) -> Any:
    if isinstance(value, dict):
        if isinstance(value.get("records"), list) and "done" in value:
            return [reference_clean(item) for item in value["records"]]
        return {k: reference_clean(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, list):
        return [reference_clean(item) for item in value]
    return value


def reference_clean_record(raw: dict[str, Any]) -> Any:
    payload = reference_clean(raw)
    wanted = {name.lower() for name in RELATIONSHIPS}
    if isinstance(payload, dict):
        for key, value in payload.items():
            if value is None and key.lower() in wanted:
                payload[key] = []
    return payload


@settings(max_examples=500, deadline=None)
@given(raw=st.dictionaries(KEYS, VALUES, max_size=6))
def test_one_pass_cleaning_answers_as_cleaning_then_emptying_relationships(
    raw: dict[str, Any],
) -> None:
    assert clean_record(raw, RELATIONSHIPS) == reference_clean_record(raw)
