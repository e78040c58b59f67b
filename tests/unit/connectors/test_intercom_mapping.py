"""The Intercom mapping examples (mappings/intercom/) against the simulator's catalog, and the
note they describe planned by the engine's planner and written through the connector."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.base import RecordChange, RecordRef
from sandbox.world import territories
from sync_jobs.config.yamlio import load_yaml
from sync_jobs.domain.mapping import load_mapping_spec
from sync_jobs.domain.model import DealRef, DealTerms
from sync_jobs.domain.notes import NoteTemplates
from sync_jobs.domain.planner import CustomerState, DealView, plan_customer
from sync_jobs.run.catalog import Catalog, write_field_problems
from tests.unit.connectors.intercom_support import desk, intercom_token

pytestmark = pytest.mark.anyio
__all__ = ["intercom_token"]
MAPPINGS = Path(__file__).parents[3] / "mappings" / "intercom"
FILES = sorted(MAPPINGS.glob("*.yaml"))
TEMPLATES = NoteTemplates("text")


def test_there_is_a_mapping_per_demo_territory() -> None:
    assert [f.name for f in FILES] == sorted(t.mapping for t in territories().values())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
async def test_every_write_path_and_the_note_exist_in_the_simulators_catalog(path: Path) -> None:
    spec = load_mapping_spec(path)
    target = desk(search_lag=0.0).target()
    catalog = await target.field_catalog()
    kept = Catalog("intercom", tuple(catalog))
    assert write_field_problems(spec, kept, path, load_yaml(path)) == []  # what `validate` checks
    by_path = {f.path: f for f in catalog}
    assert all(by_path[name].writable for name in spec.write)
    note = by_path[spec.note.field]
    assert note.writable
    assert note.max_length == target.text_limit == 255
    assert spec.record == "company"
    template = (path.parent / str(spec.note.template)).resolve()
    assert TEMPLATES.check(template.name, template.parent, str(path)) == []


def terms(deal_id: str, territory: str, **values: Any) -> DealTerms:
    return DealTerms(
        deal=DealRef(
            system="salesforce", source="sf", job=territory.lower(), id=deal_id, territory=territory
        ),
        modified_at=datetime(2026, 11, 20, tzinfo=UTC),
        **values,
    )


async def test_a_customer_of_three_territories_gets_every_deal_within_255_characters() -> None:
    path = MAPPINGS / "west-salesforce.yaml"
    spec = load_mapping_spec(path)
    d = desk(search_lag=0.0)
    target = d.target()
    acme = d.sim.customers["acme"][0]
    [record] = await target.read([RecordRef(kind="company", id=acme)])
    template = (path.parent / str(spec.note.template)).resolve()
    deals = [
        terms("006A", "West", discount_percent=Decimal("15"), payment_terms="net60",
              sla="4h response on P1", valid_until=date(2027, 3, 23)),
        terms("9001", "EMEA", discount_percent=Decimal("15"), payment_terms="net60",
              free_services=("Onsite training",), valid_until=date(2027, 4, 22)),
        terms("APAC-7", "APAC", discount_percent=Decimal("15"), valid_until=date(2027, 5, 1)),
    ]  # fmt: skip
    rules = dict(spec.write.items())
    views = [
        DealView(terms=t, rules=rules, template=template.name, folder=template.parent)
        for t in deals
    ]
    state = CustomerState(
        target="intercom",
        record=record,
        deals=views,
        base={},
        note=spec.note,
        text_limit=target.text_limit,
        today=date(2026, 11, 23),
    )
    plan = plan_customer(state, lambda v: TEMPLATES.line(v.terms, v.template, v.folder))
    assert plan.error is None
    note = plan.fields[spec.note.field]
    assert len(note) <= 255
    assert "- 15% net60 to 2027-03-23 (West)" in note
    assert "- 15% net60 to 2027-04-22 (EMEA)" in note
    assert "- 15% to 2027-05-01 (APAC)" in note
    results = await target.write(
        [RecordChange(ref=record.ref, fields=plan.fields, expected_version=record.version)]
    )
    assert results[0].ok, results[0].error
    stored = d.sim.record("company", acme)["custom_attributes"]
    assert stored["dealbridge_terms"] == note
    assert stored["payment_terms"] == "Net 60"  # the map's value is one of the options
    assert stored["special_discount"] == 15
    [again] = await target.read([record.ref])
    state = CustomerState(**{**state.__dict__, "record": again, "base": dict(plan.fields)})
    assert (
        plan_customer(state, lambda v: TEMPLATES.line(v.terms, v.template, v.folder)).changes == ()
    )
    d.assert_spec_clean()


async def test_agents_text_alone_over_the_limit_is_reported_and_nothing_is_written() -> None:
    """The issue's "text limit hit by agent text alone", in a block-mode attribute: the planner
    reports the record and renders only a header; that still does not fit 255 characters, so
    the connector refuses the write for that customer and writes the other one."""
    path = MAPPINGS / "west-salesforce.yaml"
    spec = load_mapping_spec(path)
    note_rule = spec.note.model_copy(update={"mode": "block"})
    d = desk(search_lag=0.0)
    target = d.target()
    crowded, roomy = d.sim.customers["acme"][0], d.sim.customers["globex"][0]
    agents = "Escalations go to Riley Chen, then to the account team lead. " * 4  # 248
    d.sim.agent_edit("company", crowded, custom_attributes={"dealbridge_terms": agents})
    records = await target.read([RecordRef(kind="company", id=i) for i in (crowded, roomy)])
    template = (path.parent / str(spec.note.template)).resolve()
    deal = terms("006A", "West", discount_percent=Decimal("15"), valid_until=date(2027, 3, 23))
    plans = [
        plan_customer(
            CustomerState(
                target="intercom",
                record=record,
                deals=[
                    DealView(terms=deal, rules={}, template=template.name, folder=template.parent)
                ],
                base={},
                note=note_rule,
                text_limit=target.text_limit,
                today=date(2026, 11, 23),
            ),
            lambda v: TEMPLATES.line(v.terms, v.template, v.folder),
        )
        for record in records
    ]
    assert any("leaves no room" in p for p in plans[0].problems)
    results = await target.write([RecordChange(ref=p.ref, fields=p.fields) for p in plans])
    assert not results[0].ok
    assert "Intercom string attributes hold at most 255" in str(results[0].error)
    assert results[1].ok
    stored = d.sim.record("company", crowded)["custom_attributes"]["dealbridge_terms"]
    assert stored == agents  # the agents' text is untouched
    assert (
        "- 15% to 2027-03-23 (West)"
        in d.sim.record("company", roomy)["custom_attributes"]["dealbridge_terms"]
    )
