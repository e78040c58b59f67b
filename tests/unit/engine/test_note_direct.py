"""The note's direct path (every line whole, checked before any fitting machinery is set up)
gives the very note the fitting gave before it: the old ``render_note`` and ``fit`` are kept
here as the oracle, over hostile deal lines, conflicts, agents' text around an existing block
(or a damaged one), both formats, both modes and limits from roomy to none at all."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.domain.note_block import LAYOUTS, NoteBlockDamaged, Outside, outside, place
from sync_jobs.domain.note_fit import (
    VALUE_MIN,
    DealLine,
    Fitted,
    Size,
    _Body,
    _largest,
    _listing,
)
from sync_jobs.domain.note_text import for_html, shorten
from sync_jobs.domain.notes import NOTE_HEADER, RenderedNote, render_note
from tests.unit.engine.test_note_properties import HOSTILE, VALUE, agent_text


def reference_fit(
    header: str, deals: Sequence[DealLine], alerts: Sequence[str], budget: int, size: Size
) -> Fitted:
    """``note_fit.fit`` before the direct path (the oracle)."""
    body = _Body(header, deals, alerts, budget, size)
    count = len(deals)
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


def reference_render_note(
    current: str | None,
    deals: Sequence[DealLine],
    alerts: Sequence[str],
    updated: str,
    limit: int,
    *,
    fmt: str = "text",
    mode: str = "block",
) -> RenderedNote:
    """``notes.render_note`` before the direct path (the oracle)."""
    layout = LAYOUTS[fmt]  # type: ignore[index]
    around = Outside("", "") if mode == "whole" else outside(current, layout)
    if not deals and not alerts:
        return RenderedNote("" if mode == "whole" else place(current, None, layout))
    escape: Callable[[str], str] = for_html if fmt == "html" else (lambda line: line)
    wrap = layout.block if mode == "block" else layout.line_end.join

    def block(lines: Sequence[str]) -> str:
        return wrap([escape(line) for line in lines])

    header = f"{NOTE_HEADER} {len(deals)} active deal(s), updated {updated}"
    fitted = reference_fit(header, deals, alerts, limit - around.size, lambda x: len(block(x)))
    text = around.before + block(fitted.lines) + around.after
    if fitted.fits:
        return RenderedNote(text)
    agents = len(around.before.removesuffix(layout.separator)) + len(around.after)
    return RenderedNote(
        text,
        f"the agents' own text ({agents} characters) leaves no room for the deal note "
        f"within the {limit} characters the desk takes; only the note's header was written "
        f"({len(deals)} deal(s) not listed); shorten the agents' text in this field",
    )


class Counted:
    """A deal line from hostile text (a long value cut at the cap, as the planner's lines
    are), counting how often each cap is rendered."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[int | None] = []

    def __call__(self, cap: int | None) -> str:
        self.calls.append(cap)
        return self.text if cap is None else f"- {shorten(self.text, cap)} | West"


LINE = st.one_of(VALUE, st.sampled_from(HOSTILE), st.just("- 15% discount | West | Salesforce 1"))
LIMIT = st.one_of(st.integers(0, 400), st.integers(400, 3_000), st.just(65_535))


@st.composite
def existing_note(draw: st.DrawFn, fmt: str) -> str | None:
    """No field, agents' text alone, or agents' text around a block (an old note)."""
    kind = draw(st.sampled_from(["none", "agents", "block"]))
    if kind == "none":
        return None
    before = draw(agent_text(allow=None))
    if kind == "agents":
        return before
    after = draw(agent_text(allow=None))
    old = render_note(None, [DealLine("1", lambda _cap: "- old line")], ["old alert"], "x", 9_999)
    layout = LAYOUTS[fmt]  # type: ignore[index]
    return place(before, old.text.replace("\n", layout.line_end), layout) + after


def outcome(render: Callable[..., RenderedNote], *args: object, **kwargs: object) -> object:
    """The note, or the damaged block's message."""
    try:
        return render(*args, **kwargs)
    except NoteBlockDamaged as exc:
        return f"damaged: {exc}"


@settings(max_examples=400, deadline=None)
@given(
    data=st.data(),
    fmt=st.sampled_from(["text", "html"]),
    mode=st.sampled_from(["block", "whole"]),
)
def test_the_direct_path_renders_the_fitting_s_note(
    data: st.DataObject, fmt: str, mode: str
) -> None:
    current = data.draw(existing_note(fmt))
    texts = data.draw(st.lists(LINE, max_size=5))
    ids = data.draw(st.lists(st.text(max_size=20), min_size=len(texts), max_size=len(texts)))
    alerts = data.draw(st.lists(st.one_of(VALUE, st.sampled_from(HOSTILE)), max_size=3))
    updated = data.draw(st.sampled_from(["2026-12-06", "-"]))
    limit = data.draw(LIMIT)
    if data.draw(st.booleans()):  # at the edge: the whole note's length, give or take
        roomy = outcome(
            reference_render_note,
            current,
            [DealLine(i, Counted(t)) for i, t in zip(ids, texts, strict=True)],
            alerts,
            updated,
            10**9,
            fmt=fmt,
            mode=mode,
        )
        if isinstance(roomy, RenderedNote):
            limit = len(roomy.text) + data.draw(st.integers(-3, 3))
    new = [Counted(text) for text in texts]
    old = [Counted(text) for text in texts]
    expected = outcome(
        reference_render_note,
        current,
        [DealLine(i, r) for i, r in zip(ids, old, strict=True)],
        alerts,
        updated,
        limit,
        fmt=fmt,
        mode=mode,
    )
    got = outcome(
        render_note,
        current,
        [DealLine(i, r) for i, r in zip(ids, new, strict=True)],
        alerts,
        updated,
        limit,
        fmt=fmt,
        mode=mode,
    )
    assert got == expected
    if not isinstance(got, str):  # each deal rendered whole once, however far it was fitted
        assert all(deal.calls.count(None) == 1 for deal in new)
