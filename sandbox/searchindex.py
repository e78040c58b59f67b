"""A search index that sees every change some seconds after it happened, as vendors' do.

Zendesk ("it can take up to a few minutes for new tickets, users, and other resources to be
indexed for search", Search API) and Freshdesk ("updates may take a few minutes to be indexed",
Filter Companies / Filter Contacts) answer searches from an index that lags their records. The
simulators keep one :class:`LaggingIndex` per searchable record kind: a record's change becomes
searchable ``lag`` seconds later, and until then searches see (and return) its previous copy,
or nothing when it is new. ``lag=0`` makes every change searchable at once.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Terms = Callable[[Mapping[str, Any]], Iterable[str]]
"""The exact-match terms a record copy can be found by (``domain:acme.example``...)."""


class LaggingIndex:
    """Searchable copies of records, each change applied ``lag`` seconds after it was made."""

    def __init__(self, lag: float, clock: Callable[[], float], terms: Terms) -> None:
        self.lag = lag
        self._clock = clock
        self._terms = terms
        self._visible: dict[int, dict[str, Any]] = {}
        self._by_term: dict[str, set[int]] = defaultdict(set)
        self._pending: list[tuple[float, int, int, dict[str, Any] | None]] = []
        self._seq = itertools.count()
        self.version = 0
        """Moves whenever what searches see changes (for caching search answers)."""

    def changed(
        self, record_id: int, record: Mapping[str, Any] | None, *, now: bool = False
    ) -> None:
        """A record was created, changed (``record``) or removed (``None``); ``now`` indexes it
        at once (seed data that existed long before the simulated present)."""
        copy = _copy(record) if record is not None else None
        if now or self.lag <= 0:
            self._apply(record_id, copy)
            return
        heapq.heappush(self._pending, (self._clock() + self.lag, next(self._seq), record_id, copy))

    def settle(self) -> None:
        """Apply every change still waiting, as if the lag had passed."""
        while self._pending:
            _due, _seq, record_id, copy = heapq.heappop(self._pending)
            self._apply(record_id, copy)

    def find(self, term: str) -> list[dict[str, Any]]:
        """Indexed copies carrying ``term``, by id."""
        self._catch_up()
        return [self._visible[i] for i in sorted(self._by_term.get(term, ()))]

    def records(self) -> Mapping[int, dict[str, Any]]:
        """Every indexed copy by id (what a search can see now)."""
        self._catch_up()
        return self._visible

    def _catch_up(self) -> None:
        now = self._clock()
        while self._pending and self._pending[0][0] <= now:
            _due, _seq, record_id, copy = heapq.heappop(self._pending)
            self._apply(record_id, copy)

    def _apply(self, record_id: int, copy: dict[str, Any] | None) -> None:
        old = self._visible.pop(record_id, None)
        if old is not None:
            for term in self._terms(old):
                self._by_term[term].discard(record_id)
        if copy is not None:
            self._visible[record_id] = copy
            for term in self._terms(copy):
                self._by_term[term].add(record_id)
        self.version += 1


def _copy(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy later changes to the record cannot reach (nested maps and lists copied too)."""
    return {
        key: dict(value)
        if isinstance(value, dict)
        else list(value)
        if isinstance(value, list)
        else value
        for key, value in record.items()
    }
