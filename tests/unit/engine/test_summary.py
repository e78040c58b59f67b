"""The deal line's ``summary`` filter skips absent terms before cleaning them; what it prints
is exactly what cleaning every term first printed, for any terms."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.domain.model import DealTerms
from sync_jobs.domain.note_text import clean
from sync_jobs.domain.notes import _pct, _terms_text, summary
from tests.unit.engine.test_terms_fingerprint import PLAIN


def summary_cleaning_every_term(deal: DealTerms) -> str:
    """The filter as it was before (the reference)."""
    parts = []
    if deal.discount_percent is not None:
        parts.append(f"{_pct(deal.discount_percent)} discount")
    if payment := clean(deal.payment_terms):
        parts.append(f"payment {_terms_text(payment)}")
    if free := ", ".join(filter(None, map(clean, deal.free_services))):
        parts.append(f"free: {free}")
    if sla := clean(deal.sla):
        parts.append(f"SLA: {sla}")
    if instructions := clean(deal.special_instructions):
        parts.append(f"note: {instructions}")
    if deal.valid_until:
        parts.append(f"until {deal.valid_until.isoformat()}")
    return "; ".join(parts) or "special terms (see deal)"


TEXTS = (
    st.none() | st.sampled_from(["", " ", "\n", "<b>", "\u200b", "net 30", " Net60 "]) | st.text()
)


@settings(max_examples=500, deadline=None)
@given(
    discount=st.none() | st.decimals(min_value=0, max_value=100, allow_nan=False),
    payment=TEXTS,
    free=st.lists(TEXTS.filter(lambda t: t is not None), max_size=3),
    sla=TEXTS,
    instructions=TEXTS,
    until=st.none() | st.dates(),
)
def test_the_summary_is_what_cleaning_every_term_made(
    discount: Decimal | None,
    payment: str | None,
    free: list[str],
    sla: str | None,
    instructions: str | None,
    until: object,
) -> None:
    deal = PLAIN.model_copy(
        update={
            "discount_percent": discount,
            "payment_terms": payment,
            "free_services": tuple(free),
            "sla": sla,
            "special_instructions": instructions,
            "valid_until": until,
        }
    )
    assert summary(deal) == summary_cleaning_every_term(deal)


def test_a_deal_without_terms_says_so() -> None:
    bare = PLAIN.model_copy(
        update={"discount_percent": None, "payment_terms": " ", "valid_until": None}
    )
    assert summary(bare) == "special terms (see deal)"
