"""The terms stage 1 validated are handed to stage 2 by fingerprint and modification time:
found only for exactly the stored terms, bounded, and equal to validating the stored text."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sync_jobs.domain.model import AccountIdentity, DealRef, DealTerms
from sync_jobs.run.terms_cache import TermsCache

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def terms(deal_id: str = "D1", **changes: object) -> DealTerms:
    data: dict[str, object] = {
        "deal": DealRef(system="salesforce", source="sf", job="west", id=deal_id, territory="W"),
        "name": "Renewal",
        "close_date": date(2026, 11, 1),
        "amount": Decimal("12000.50"),
        "account": AccountIdentity(external_ids=("cust-1",), domains=("acme.example",)),
        "discount_percent": Decimal("12.5"),
        "free_services": ("onboarding", "training"),
        "valid_until": date(2099, 12, 31),
        "custom": {"tier": "gold", "seats": 40, "nested": {"a": [1, None]}},
        "modified_at": NOW,
    }
    return DealTerms.model_validate(data | changes)


def test_terms_are_found_by_fingerprint_and_modification_time_only() -> None:
    cache = TermsCache(10)
    kept = terms()
    cache.put(kept.fingerprint(), NOW, kept)
    assert cache.get(kept.fingerprint(), NOW) is kept
    assert cache.get(kept.fingerprint(), NOW + timedelta(seconds=1)) is None, "re-saved later"
    changed = terms(discount_percent=Decimal("15"))
    assert cache.get(changed.fingerprint(), NOW) is None, "changed terms are never served"


def test_the_oldest_terms_leave_a_full_cache() -> None:
    cache = TermsCache(2)
    kept = [terms(f"D{n}") for n in range(3)]
    for one in kept:
        cache.put(one.fingerprint(), NOW, one)
    assert len(cache) == 2
    assert cache.get(kept[0].fingerprint(), NOW) is None
    assert cache.get(kept[2].fingerprint(), NOW) is kept[2]


def test_terms_offered_are_kept_only_while_there_is_room() -> None:
    cache = TermsCache(2)
    handed = [terms(f"D{n}") for n in range(2)]
    for one in handed:
        cache.put(one.fingerprint(), NOW, one)
    offered = terms("D9")
    cache.offer(offered.fingerprint(), NOW, offered)
    assert cache.get(offered.fingerprint(), NOW) is None, "a full cache keeps what it holds"
    assert all(cache.get(one.fingerprint(), NOW) is one for one in handed)
    roomy = TermsCache(3)
    roomy.offer(offered.fingerprint(), NOW, offered)
    assert roomy.get(offered.fingerprint(), NOW) is offered


def test_validating_the_stored_text_gives_the_terms_stage_1_kept() -> None:
    kept = terms()
    text = json.dumps(kept.model_dump(mode="json"))  # the terms column, as stage 1 stores it
    before = DealTerms.model_validate(json.loads(text))  # how stage 2 read it before
    assert DealTerms.model_validate_json(text) == kept == before
