"""The garbage collector's settings for a dealbridge process (once, at start).

A run allocates a few dozen container objects per deal (payloads, terms, plans, rows) that
die young, almost none in cycles, over a heap of a few hundred thousand long-lived objects
(the imported modules, SQLAlchemy's and pydantic's compiled structures). CPython's defaults
(a young collection every 700 net allocations, a full one now and then that walks the whole
heap) spent about a fifth of a run's main-thread CPU in the collector at 10,000 deals
(bench/analysis.md, issue 19 point 4). So:

- ``gc.freeze()`` moves everything alive at start into the permanent generation, which no
  collection walks again (nothing imported or configured at start becomes garbage);
- the young generation is collected every ``YOUNG_THRESHOLD`` allocations instead of 700:
  the same cycles are found, later, at a cost of a few MB of garbage waiting at most.

Memory stays flat: cycles are still collected, only less often.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Net container allocations between young collections (CPython's default: 700)."""


def tune_collector() -> None:
    """Freeze what exists now and collect young objects less often. Call once per process,
    after the imports and before the work (calling it again freezes that moment too)."""
    gc.collect()  # what is garbage already is not frozen
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
