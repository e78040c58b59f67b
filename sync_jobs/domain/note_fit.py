"""Fitting the note's body into the room the desk leaves it, the same way every time.

The rule (also in mappings/README.md, "The note"), first step that fits wins:

1. Every deal's line whole, and every conflict line (each at most :data:`ALERT_MAX` characters).
2. Long values shortened: every text value of every deal (special instructions, SLA, names,
   ids...) is cut to the same length, the longest that makes the note fit but never under
   :data:`VALUE_MIN` characters; a cut value ends with ``…[+N chars]``.
3. Deals listed in their order (soonest expiry first, then largest discount, territory, deal
   id) as many as fit with values cut to :data:`VALUE_MIN` (then as long as the room allows),
   followed by ``+K more deal(s): see `dealbridge deals show ID` (IDs: ...)``; the conflict lines
   become one line counting them.
4. Nothing fits (the agents' own text fills the field): the header and the "+K more" line only,
   and the caller reports the record.

The room depends only on the agents' text outside the block, never on dealbridge's own block,
so rendering again from the note it wrote gives the same note.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

from pydantic import BaseModel

from sync_jobs.domain.model import DealTerms
from sync_jobs.domain.note_text import clean, note_line, shorten

VALUE_MIN = 40
"""Values are never cut shorter than this: below it the deal is listed under "+K more"."""
ALERT_MAX = 300
"""A conflict line is at most this long; `dealbridge conflicts show` has the whole values."""
IDS_MAX = 60
"""The hidden deals' ids in the "+K more" line take at most this many characters."""


class DealLine(NamedTuple):
    """One deal as the note lists it (a tuple: one is made per deal of every note)."""

    deal_id: str
    render: Callable[[int | None], str]
    """The deal's line with every text value cut to at most n characters (None: whole)."""


class Fitted(NamedTuple):
    """The body of the block: clean, neutralised plain-text lines (a tuple: one a note)."""

    lines: tuple[str, ...]
    shown: int
    """Deals listed (the rest are counted in the "+K more" line)."""
    fits: bool


Size = Callable[[Sequence[str]], int]
"""The length of the whole block around these body lines, as the desk stores it."""


def clean_terms(terms: DealTerms) -> DealTerms:
    """``terms`` with every text value (nested ones and list items too) made clean."""
    return cast("DealTerms", _each_text(terms, None))


def shorten_terms(terms: DealTerms, cap: int) -> DealTerms:
    """Clean ``terms`` with every text value cut to at most ``cap`` characters; a list whose
    items together are longer becomes one cut item."""
    return cast("DealTerms", _each_text(terms, cap))


def _each_text(value: Any, cap: int | None) -> Any:
    if isinstance(value, str):
        return clean(value) if cap is None else shorten(value, cap)
    if isinstance(value, BaseModel):
        names = type(value).model_fields
        return value.model_copy(update={n: _each_text(getattr(value, n), cap) for n in names})
    if isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
        if cap is None:
            return tuple(clean(v) for v in value)
        joined = ", ".join(value)
        return tuple(value) if len(joined) <= cap else (shorten(joined, cap),)
    if isinstance(value, dict):
        return {k: _each_text(v, cap) for k, v in value.items()}
    return value


class _Body:
    """Candidate bodies for one note, with each deal rendered at most once per cap."""

    def __init__(
        self, header: str, deals: Sequence[DealLine], alerts: Sequence[str], budget: int, size: Size
    ) -> None:
        self.header = header
        self.deals = deals
        self.alerts = [alert_line(a) for a in alerts]
        self.condensed = (
            [f"! {len(alerts)} open conflict(s): see `dealbridge conflicts list`"] if alerts else []
        )
        self.budget = budget
        self.size = size
        self._lines: dict[tuple[int, int | None], str] = {}

    def line(self, index: int, cap: int | None) -> str:
        key = (index, cap)
        if key not in self._lines:
            self._lines[key] = note_line(self.deals[index].render(cap))
        return self._lines[key]

    def lines(
        self, shown: int, cap: int | None, *, condensed: bool = False, ids: bool = True
    ) -> list[str]:
        body = [self.header, *(self.line(i, cap) for i in range(shown))]
        if shown < len(self.deals):
            body.append(self.more(shown, ids=ids))
        return body + (self.condensed if condensed else self.alerts)

    def more(self, shown: int, *, ids: bool) -> str:
        hidden = self.deals[shown:]
        text = f"+{len(hidden)} more deal(s): see `dealbridge deals show ID`"
        if not ids:
            return text
        return f"{text} (IDs: {_ids(hidden)})"

    def fits(self, lines: Sequence[str]) -> bool:
        return self.size(lines) <= self.budget


def alert_line(alert: str) -> str:
    """A conflict line as the body lists it (step 1 and on)."""
    return shorten(note_line(f"! {alert}"), ALERT_MAX)


def whole_lines(header: str, deals: Sequence[DealLine], alerts: Sequence[str]) -> list[str]:
    """Step 1's body: the header, every deal's line whole and every conflict line; what
    :func:`fit` returns whenever it fits (nearly every note), made without the machinery
    the later steps need."""
    return [
        header,
        *[note_line(deal.render(None)) for deal in deals],
        *[alert_line(alert) for alert in alerts],
    ]


def _ids(hidden: Sequence[DealLine]) -> str:
    """Whole ids while they fit in :data:`IDS_MAX` characters, then an ellipsis."""
    listed: list[str] = []
    for deal in hidden:
        listed.append(shorten(clean(deal.deal_id), IDS_MAX))
        if len(", ".join(listed)) > IDS_MAX:
            return ", ".join([*listed[:-1], "…"])
    return ", ".join(listed)


def fit(
    header: str,
    deals: Sequence[DealLine],
    alerts: Sequence[str],
    budget: int,
    size: Size,
    whole: Sequence[str] | None = None,
) -> Fitted:
    """The body lines for ``budget`` characters of block (markers included); ``whole``, when
    given, is :func:`whole_lines` of the same deals, already made (no deal is rendered whole
    again)."""
    body = _Body(header, deals, alerts, budget, size)
    count = len(deals)
    if whole is not None:
        for index, line in enumerate(whole[1 : count + 1]):
            body._lines[(index, None)] = line
    whole = body.lines(count, None)
    if body.fits(whole):
        return Fitted(tuple(whole), count, fits=True)
    cap = _largest(lambda c: body.fits(body.lines(count, c)), VALUE_MIN, budget)
    if cap is not None:
        return Fitted(tuple(body.lines(count, cap)), count, fits=True)
    for ids in (True, False):
        listed = _listing(body, ids=ids)
        if listed is not None:
            return listed
    return Fitted(tuple(body.lines(0, None, condensed=True, ids=False)), 0, fits=False)


def _listing(body: _Body, *, ids: bool) -> Fitted | None:
    """Step 3: as many deals as fit at the shortest values, then values as long as they fit."""

    def lines(shown: int, cap: int) -> list[str]:
        return body.lines(shown, cap, condensed=True, ids=ids)

    shown = _largest(lambda k: body.fits(lines(k, VALUE_MIN)), 0, len(body.deals) - 1)
    if shown is None:
        return None
    cap = _largest(lambda c: body.fits(lines(shown, c)), VALUE_MIN, body.budget)
    return Fitted(tuple(lines(shown, cap or VALUE_MIN)), shown, fits=True)


def _largest(accepts: Callable[[int], bool], low: int, high: int) -> int | None:
    """The largest n in [low, high] that ``accepts`` takes (None if not even ``low``).

    A longer cap or more deals makes a longer note, so: double from ``low`` until refused,
    then halve the gap. Doubling first keeps the probes near the answer, which matters when
    each probe renders values of up to n characters. The answer is always a value ``accepts``
    took, even where a count's digits make the lengths not quite monotone."""
    if not accepts(low):
        return None
    good, bad, step = low, high + 1, 1
    while good + step < bad:
        if not accepts(good + step):
            bad = good + step
            break
        good, step = good + step, step * 2
    while bad - good > 1:
        middle = (good + bad) // 2
        if accepts(middle):
            good = middle
        else:
            bad = middle
    return good
