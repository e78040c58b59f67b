"""Immutable values the engine passes between its stages.

``DealTerms`` is the canonical shape every source is mapped into; the planner never sees a
vendor payload. Values are plain Python types (Decimal, date, tuple) so they hash, compare and
serialise predictably.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from connectors.base import Frozen
from sync_jobs.domain.canonical_json import SortedForm

CANONICAL_TERMS = (
    "discount_percent",
    "payment_terms",
    "free_services",
    "sla",
    "special_instructions",
    "valid_from",
    "valid_until",
    "approved_by",
)
CANONICAL_DEAL = (
    "name",
    "stage",
    "close_date",
    "amount",
    "currency",
    "owner_name",
    "owner_email",
    "account_name",
    "account_phone",
)


class DealRef(Frozen):
    """Where a deal lives: which system, which job and territory, its id and a deep link."""

    system: str
    source: str
    job: str
    id: str
    territory: str
    url: str | None = None


class AccountIdentity(Frozen):
    """What the deal says about the customer, used to find their service record."""

    name: str | None = None
    external_ids: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    phone: str | None = None


class DealTerms(Frozen):
    """One deal's one-off terms in canonical form, as every mapping produces them."""

    deal: DealRef
    name: str | None = None
    stage: str | None = None
    active: bool = True
    """False for lost or not-yet-won deals (by the mapping's ``active_when`` rule)."""
    deleted: bool = False
    close_date: date | None = None
    amount: Decimal | None = None
    currency: str | None = None
    owner_name: str | None = None
    owner_email: str | None = None
    account: AccountIdentity = Field(default_factory=AccountIdentity)
    discount_percent: Decimal | None = Field(None, ge=0, le=100)
    payment_terms: str | None = None
    free_services: tuple[str, ...] = ()
    sla: str | None = None
    special_instructions: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    approved_by: str | None = None
    custom: dict[str, Any] = Field(default_factory=dict)
    """Admin-defined extra terms (``custom.<name>`` in mappings)."""
    modified_at: datetime

    def value(self, name: str) -> Any:
        """Read a canonical field by the name mappings use (``custom.x`` reads ``custom``)."""
        if name.startswith("custom."):
            return self.custom.get(name.removeprefix("custom."))
        return getattr(self, name)

    def is_live(self, today: date) -> bool:
        """True while the deal should appear on the customer's record."""
        if self.deleted or not self.active:
            return False
        return self.valid_until is None or self.valid_until >= today

    def fingerprint(self) -> str:
        """Stable hash of everything but the modification time (re-reads are free): of the
        text :func:`terms_fingerprint` hashes, written from the terms' own values where
        that is the same text (stage 1 fingerprints every deal it reads; dumping the terms
        first cost as much again)."""
        raw = _SORTED_TERMS.model_text(self)
        if raw is None:  # a value only the form decides (see SortedForm.model_text)
            raw = _SORTED_TERMS.text(self.model_dump(mode="json"))
        return _digest(raw)

    def stored_text(self) -> tuple[str, str] | None:
        """The terms' JSON text to store and their :meth:`fingerprint`, from one serialization
        (stage 1 stores and fingerprints every deal it reads: two serializations were a
        third of that cost); None when only the dumped form can tell (a free-form value
        of another kind, a lone surrogate): the caller then makes each on its own.

        The text decodes to the terms' JSON form as pydantic's own text of them does, its
        keys sorted (the modification time last) and non-ASCII characters escaped."""
        texts = _SORTED_TERMS.model_texts(self)
        if texts is None:
            return None
        whole, hashed = texts
        return whole.decode(), _digest(hashed)


def terms_fingerprint(stored: dict[str, Any]) -> str:
    """:meth:`DealTerms.fingerprint` from the terms' JSON form (``model_dump(mode="json")``),
    for a caller holding that form rather than the terms.

    Stored fingerprints must stay valid across upgrades (a changed one rewrites the customer),
    so the text hashed is exactly what it always was: the JSON form without the modification
    time, keys sorted, no spaces, non-ASCII escaped (:mod:`sync_jobs.domain.canonical_json`
    writes it faster, byte for byte the same)."""
    return _digest(_SORTED_TERMS.text(stored))


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:32]


_SORTED_TERMS = SortedForm(
    DealTerms.model_fields,
    nested={"deal": DealRef.model_fields, "account": AccountIdentity.model_fields},
    free="custom",
    leave_out="modified_at",
    models={"": DealTerms, "deal": DealRef, "account": AccountIdentity},
)


MatchStatus = Literal["matched", "unmatched", "ambiguous", "pending"]


class MatchResult(Frozen):
    """Which service record a deal's customer is, and how we know."""

    status: MatchStatus
    record_kind: str | None = None
    record_id: str | None = None
    method: str | None = None
    """The identity rule that matched (``external_id``, ``email``, ``domain``)."""
    key: str | None = None
    """The normalised value the match used (stored with the deal: before every write the
    record must still carry it, or the deal's customer is resolved again)."""
    candidates: tuple[str, ...] = ()
    """Record ids when ambiguous."""

    @property
    def customer_key(self) -> str | None:
        """``kind:id`` of the matched record, the stage-2 work key."""
        if self.status != "matched" or self.record_id is None:
            return None
        return f"{self.record_kind}:{self.record_id}"
