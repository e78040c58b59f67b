"""Deal-line templates run in Jinja2's sandbox: a template reads the deal's fields, and
nothing that reaches Python's internals, whichever object it starts from."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.errors import ConfigError
from sync_jobs.domain.model import AccountIdentity, DealRef, DealTerms
from sync_jobs.domain.notes import NoteTemplates

TERMS = DealTerms(
    deal=DealRef(system="salesforce", source="sf", job="west", id="006A", territory="West"),
    account=AccountIdentity(name="Acme", domains=("acme.example",)),
    discount_percent=Decimal(15),
    owner_name="Dana",
    custom={"tier": "gold"},
    modified_at=datetime(2026, 12, 1, tzinfo=UTC),
)


def render(folder: Path, text: str) -> str:
    (folder / "line.j2").write_text(text, encoding="utf-8")
    return NoteTemplates().line(TERMS, "line.j2", folder)


def test_a_template_reads_the_fields_of_the_deal_its_ref_and_its_account(tmp_path: Path) -> None:
    text = (
        "{{ deal.owner_name }} {{ deal.discount_percent | pct }} {{ deal.deal.territory }} "
        "{{ deal.account.name }} {{ deal.account.domains | join(',') }} {{ deal.custom.tier }}"
    )
    assert render(tmp_path, text) == "Dana 15% West Acme acme.example gold"


@pytest.mark.parametrize(
    "expression",
    [
        "deal.__class__",
        "deal.deal.__class__.__mro__",
        "deal.account.__dict__",
        "deal.__pydantic_fields__",
        "deal.value.__globals__",
        "deal.custom.__class__",
        "deal.owner_name.__class__",
    ],
)
def test_internal_attributes_stay_out_of_reach(tmp_path: Path, expression: str) -> None:
    with pytest.raises(ConfigError, match="unsafe"):
        render(tmp_path, "{{ " + expression + " }}")


def test_jinja_globals_stay_available_render_after_render(tmp_path: Path) -> None:
    (tmp_path / "line.j2").write_text(
        "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}"
        "{% endfor %}{{ ns.n }} {{ dict(a=1).a }} {{ deal.deal.id }}",
        encoding="utf-8",
    )
    templates = NoteTemplates()
    first = templates.line(TERMS, "line.j2", tmp_path)
    assert first == "3 1 006A"
    assert templates.line(TERMS, "line.j2", tmp_path) == first
