"""A deal's terms fingerprint is stored with it, and an unchanged re-read is recognised by it:
the fingerprint of the same terms must never change across upgrades, or the first run after
one rewrites every customer. The pinned values were computed by the code before stage 1 began
fingerprinting the stored JSON form (``model_dump(mode="json", exclude={"modified_at"})``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.domain.model import AccountIdentity, DealRef, DealTerms, terms_fingerprint

REF = DealRef(
    system="salesforce",
    source="salesforce_west",
    job="west",
    id="006A",
    territory="West",
    url="https://x/lightning/r/Opportunity/006A/view",
)
PLAIN = DealTerms(
    deal=REF,
    name="Bench deal 0",
    stage="Closed Won",
    close_date=date(2026, 12, 6),
    amount=Decimal("10000.00"),
    currency="USD",
    owner_name="Bench Rep",
    owner_email="rep@seller.example",
    account=AccountIdentity(
        name="Bench Customer 0", external_ids=("bench-0000000",), domains=("bench0.example",)
    ),
    discount_percent=Decimal("0"),
    payment_terms="net30",
    valid_until=date(2099, 12, 31),
    approved_by="VP Sales",
    modified_at=datetime(2026, 12, 6, 9, 23, 25, 886000, tzinfo=UTC),
)
RICH = DealTerms(
    deal=REF,
    name='Zürich — Ærø 😀 "q"\n',
    active=False,
    amount=Decimal("1.5E+3"),
    discount_percent=Decimal("12.50"),
    free_services=("Onsite training", "Priority support"),
    custom={
        "tier": "gold",
        "seats": 12,
        "ratio": 0.1,
        "more": {"b": [1, "x"], "a": None},
        "since": date(2026, 1, 2),
    },
    modified_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def test_unchanged_terms_keep_the_fingerprint_stored_by_earlier_versions() -> None:
    assert PLAIN.fingerprint() == "dd13b6df457865d93d9e68efa76c259d"
    assert RICH.fingerprint() == "4cde74d38e13d938b8e1939edd2b0bd3"


def test_the_stored_json_form_gives_the_same_fingerprint_as_the_terms() -> None:
    for terms in (PLAIN, RICH):
        assert terms_fingerprint(terms.model_dump(mode="json")) == terms.fingerprint()


@settings(max_examples=200, deadline=None)
@given(
    modified=st.datetimes(timezones=st.just(UTC)),
    name=st.text(max_size=8),
    custom=st.dictionaries(st.text(max_size=3), st.text(max_size=3) | st.integers(), max_size=3),
)
def test_only_the_modification_time_is_left_out(
    modified: datetime, name: str, custom: dict[str, object]
) -> None:
    terms = RICH.model_copy(update={"modified_at": modified, "name": name, "custom": custom})
    again = terms.model_copy(update={"modified_at": datetime(2020, 1, 1, tzinfo=UTC)})
    assert terms.fingerprint() == again.fingerprint()
    renamed = terms.model_copy(update={"name": name + "!"})
    assert renamed.fingerprint() != terms.fingerprint()
