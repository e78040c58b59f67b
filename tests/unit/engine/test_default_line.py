"""The shipped deal-line template (and the mappings' copy of it) renders without Jinja, to the
very bytes Jinja's sandbox renders for it (hostile values included); any other template, an
admin's file named like the shipped one or either file edited in place, is still rendered by
the sandbox."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.world import REPO_ROOT
from sync_jobs.domain.model import DealRef, DealTerms
from sync_jobs.domain.notes import (
    BUILTIN_TEMPLATES,
    DEFAULT_SOURCE,
    DEFAULT_TEMPLATE,
    NoteTemplates,
    default_line,
)
from tests.unit.engine.test_note_properties import HOSTILE, VALUE

MAPPINGS_COPY = REPO_ROOT / "mappings" / "templates" / "deal-line.j2"
"""What every shipped mapping names as its template (``note.template``)."""

TEXT = st.one_of(
    st.sampled_from(["", " ", "West", "salesforce", "hubspot", "spreadsheet", *HOSTILE]),
    st.text(max_size=40),
    VALUE,
)
MAYBE = st.none() | TEXT


@st.composite
def hostile_terms(draw: st.DrawFn) -> DealTerms:
    """Every value the shipped template prints, drawn from hostile and ordinary text."""
    return DealTerms(
        deal=DealRef(
            system=draw(TEXT), source="sf", job="west", id=draw(TEXT), territory=draw(TEXT)
        ),
        discount_percent=draw(st.none() | st.decimals(0, 100, allow_nan=False, places=3)),
        payment_terms=draw(MAYBE),
        free_services=tuple(draw(st.lists(TEXT, max_size=3))),
        sla=draw(MAYBE),
        special_instructions=draw(MAYBE),
        owner_name=draw(MAYBE),
        owner_email=draw(MAYBE),
        valid_until=draw(st.none() | st.dates(date(2000, 1, 1), date(2100, 1, 1))),
        modified_at=datetime(2026, 11, 20, tzinfo=UTC),
    )


def sandbox_output(deal: DealTerms, source: str = DEFAULT_SOURCE) -> str:
    """A template's raw output from Jinja's sandbox, set up as the renderer sets it up
    (loader, finalize, filters, whitespace control)."""
    env = NoteTemplates()._env(BUILTIN_TEMPLATES)
    return env.from_string(source).render(deal=deal)


def test_the_shipped_template_is_the_text_rendered_without_jinja() -> None:
    shipped = (BUILTIN_TEMPLATES / DEFAULT_TEMPLATE).read_text(encoding="utf-8")
    assert shipped == DEFAULT_SOURCE


@settings(max_examples=400, deadline=None)
@given(hostile_terms())
def test_the_line_is_byte_for_byte_the_sandbox_output(deal: DealTerms) -> None:
    assert default_line(deal) == sandbox_output(deal)


@settings(max_examples=100, deadline=None)
@given(hostile_terms())
def test_the_mappings_copy_renders_the_same_bytes_in_the_sandbox(deal: DealTerms) -> None:
    copy = MAPPINGS_COPY.read_text(encoding="utf-8")
    assert copy != DEFAULT_SOURCE  # its comment is longer
    assert default_line(deal) == sandbox_output(deal, copy)


def test_the_mappings_copy_renders_without_the_sandbox() -> None:
    renderer = NoteTemplates()
    folder, name = MAPPINGS_COPY.parent, MAPPINGS_COPY.name
    deal = DealTerms(
        deal=DealRef(system="hubspot", source="hs", job="emea", id="9001", territory="EMEA"),
        modified_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    assert renderer.line(deal, name, folder) == "- special terms (see deal) | EMEA | HubSpot 9001"
    assert renderer._renderers[(str(folder), name)] is default_line


def test_owner_parts_appear_as_the_template_tests_them() -> None:
    ref = DealRef(system="hubspot", source="hs", job="emea", id="9001", territory="EMEA")
    base = {"deal": ref, "discount_percent": Decimal(10), "modified_at": datetime.now(UTC)}
    for owner in ({}, {"owner_email": "a@b.example"}, {"owner_name": "Dana"}, {"owner_name": ""}):
        deal = DealTerms.model_validate(base | owner | {"owner_email": "a@b.example"})
        assert default_line(deal) == sandbox_output(deal)
    named = DealTerms.model_validate(base | {"owner_name": "Dana", "owner_email": "a@b.example"})
    assert default_line(named) == "- 10% discount | EMEA, Dana (a@b.example) | HubSpot 9001"


def test_the_shipped_template_renders_without_the_sandbox() -> None:
    renderer = NoteTemplates()
    deal = DealTerms(
        deal=DealRef(system="salesforce", source="sf", job="west", id="D1", territory="West"),
        modified_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    assert renderer.line(deal, None, Path("/nonexistent")) == (
        "- special terms (see deal) | West | Salesforce D1"
    )
    assert renderer._renderers[("/nonexistent", DEFAULT_TEMPLATE)] is default_line


def test_an_admin_template_named_like_the_shipped_one_is_rendered_by_the_sandbox(
    tmp_path: Path,
) -> None:
    """A mapping folder's own deal-line.j2 comes first on the loader's path."""
    (tmp_path / DEFAULT_TEMPLATE).write_text("mine {{ deal.deal.id }}", encoding="utf-8")
    renderer = NoteTemplates()
    deal = DealTerms(
        deal=DealRef(system="salesforce", source="sf", job="west", id="D1", territory="West"),
        modified_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    assert renderer.line(deal, None, tmp_path) == "mine D1"
    assert renderer._renderers[(str(tmp_path), DEFAULT_TEMPLATE)] is not default_line


def test_the_shipped_text_changed_by_one_character_is_rendered_by_the_sandbox(
    tmp_path: Path,
) -> None:
    edited = DEFAULT_SOURCE.replace(" | {{ deal.deal.system", " / {{ deal.deal.system")
    (tmp_path / "line.j2").write_text(edited, encoding="utf-8")
    renderer = NoteTemplates()
    deal = DealTerms(
        deal=DealRef(system="salesforce", source="sf", job="west", id="D1", territory="West"),
        modified_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    assert (
        renderer.line(deal, "line.j2", tmp_path)
        == "- special terms (see deal) | West / Salesforce D1"
    )


def test_the_shipped_text_under_another_name_renders_the_same_line(tmp_path: Path) -> None:
    (tmp_path / "copy.j2").write_text(DEFAULT_SOURCE, encoding="utf-8")
    renderer = NoteTemplates()
    deal = DealTerms(
        deal=DealRef(system="zoho", source="z", job="latam", id="Z7", territory="LATAM"),
        owner_name="Rui",
        discount_percent=Decimal("12.50"),
        modified_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    assert renderer.line(deal, "copy.j2", tmp_path) == renderer.line(deal, None, tmp_path)
