"""Validated deal terms kept between stage 1 and stage 2, so stage 2 need not decode and
validate again what stage 1 has just mapped.

A stored deal row is found by its terms fingerprint and modification time: the fingerprint
covers every term but the modification time (which a note template may print), so the two
together name one stored terms text exactly, whichever job, run or replica wrote it. A
stale entry can therefore never be served for a changed deal: the changed row has another
key. Bounded (oldest out first), about 6 KB a deal: the default holds one source page
(12 MB). Stage 2 finds its deals there only while it keeps pace with stage 1 (a daemon's
incremental runs); behind a long backfill it validates the stored JSON text in one step.

Stage 2 only *offers* what it validated itself (kept while there is room): put, each of its
misses pushed out one of the entries stage 1 had just handed over, before stage 2 reached
it. In a 10,000-deal backfill that left 165 hits of 10,000 lookups; offered, stage 1's last
2,000 deals all hit (the cache's size), and stage 2's 8,000 misses cost no evictions.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from sync_jobs.domain.model import DealTerms

Key = tuple[str, datetime]


class TermsCache:
    """At most ``size`` validated terms by (fingerprint, modification time)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._terms: OrderedDict[Key, DealTerms] = OrderedDict()

    def put(self, fingerprint: str, modified_at: datetime, terms: DealTerms) -> None:
        """Keep ``terms`` (validated, immutable), stored under this fingerprint and time."""
        key = (fingerprint, modified_at)
        self._terms[key] = terms
        self._terms.move_to_end(key)
        if len(self._terms) > self.size:
            self._terms.popitem(last=False)

    def offer(self, fingerprint: str, modified_at: datetime, terms: DealTerms) -> None:
        """Keep ``terms`` only while the cache has room: what a reader validated itself must
        not push out terms a writer handed over for it (see :data:`TERMS`)."""
        if len(self._terms) < self.size:
            self._terms[(fingerprint, modified_at)] = terms

    def get(self, fingerprint: str, modified_at: datetime) -> DealTerms | None:
        """The terms stored under this fingerprint and time, if still held."""
        return self._terms.get((fingerprint, modified_at))

    def __len__(self) -> int:
        return len(self._terms)


TERMS = TermsCache(2000)
"""The process's cache: stage 1 puts what it stores, stage 2 takes what it plans."""
