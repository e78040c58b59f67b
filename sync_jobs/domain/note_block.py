"""dealbridge's marked block inside a free-text field that agents also write in.

The block starts with the line :data:`BLOCK_START` and ends with the line :data:`BLOCK_END`.
Markers are recognised only as whole lines (trailing spaces and an HTML ``<br>`` aside), so
agent text that mentions a marker in a sentence is just text, and nothing dealbridge renders
inside the block can be a marker line (see :func:`sync_jobs.domain.note_text.neutralise`).

Which text is ours: the one start marker line whose next marker line is an end marker line.
Any other marker line is agent text and kept. Two such pairs (an old note pasted back) or a
start marker without its end (the end deleted) mean we cannot tell what is whose: the note is
reported and left alone (:class:`NoteBlockDamaged`).

Everything outside the block is kept byte for byte. A first block goes after the agents'
text, behind a separator (a blank line); removing the block removes that separator again, so
inserting and later removing the block gives the agents' text back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal, NamedTuple

BLOCK_START = "=== dealbridge: special terms - do not edit inside this block ==="
BLOCK_END = "=== end dealbridge ==="

NoteFormat = Literal["text", "html"]
_HTML_BREAK = re.compile(r"<br\s*/?>\s*$", re.IGNORECASE)


class NoteBlockDamaged(ValueError):
    """The note's markers do not delimit exactly one block: we cannot tell what is ours."""


@dataclass(frozen=True)
class Layout:
    """How a block is laid out in a field of one format."""

    format: NoteFormat
    line_end: str
    """Between two lines of the block."""
    separator: str
    """Between the agents' text and a block dealbridge adds after it."""

    def block(self, lines: Sequence[str]) -> str:
        """The whole block around body ``lines`` (already clean and escaped for the format)."""
        return self.line_end.join([BLOCK_START, *lines, BLOCK_END])

    def marker(self, line: str) -> str | None:
        """The marker this whole line is, if any."""
        core = line.rstrip()
        if self.format == "html":
            core = _HTML_BREAK.sub("", core).rstrip()
        return core if core in (BLOCK_START, BLOCK_END) else None


LAYOUTS: dict[NoteFormat, Layout] = {
    "text": Layout("text", "\n", "\n\n"),
    "html": Layout("html", "<br>\n", "<br>\n<br>\n"),
}


@dataclass(frozen=True)
class Span:
    """Where our block is: from the start of its first line to the end of its end marker."""

    start: int
    end: int


def find_block(text: str, layout: Layout) -> Span | None:
    """Our block in ``text``; None when there is none; raises when it cannot be told apart."""
    if BLOCK_START not in text and BLOCK_END not in text:
        return None  # a marker line holds one of them: no line of this text can be a marker
    markers: list[tuple[str, int]] = []  # (marker, offset of its line)
    offset = 0
    for line in text.split("\n"):
        found = layout.marker(line)
        if found is not None:
            markers.append((found, offset))
        offset += len(line) + 1
    pairs = [
        Span(start, end + len(BLOCK_END))
        for (first, start), (second, end) in pairwise(markers)
        if first == BLOCK_START and second == BLOCK_END
    ]
    if len(pairs) > 1:
        raise NoteBlockDamaged(
            f"the note holds {len(pairs)} dealbridge blocks (was an old note pasted back?); "
            f"delete every block but one, from its '{BLOCK_START}' line to its "
            f"'{BLOCK_END}' line"
        )
    if pairs:
        return pairs[0]
    if any(marker == BLOCK_START for marker, _ in markers):
        raise NoteBlockDamaged(
            "the note's end marker was deleted; restore the line "
            f"'{BLOCK_END}' after dealbridge's block or remove its '{BLOCK_START}' line"
        )
    return None


class Outside(NamedTuple):
    """The agents' text around where the block goes (a tuple: one a note)."""

    before: str
    after: str

    @property
    def size(self) -> int:
        return len(self.before) + len(self.after)


def outside(current: str | None, layout: Layout) -> Outside:
    """What surrounds the block: today's block is replaced, a first block is appended."""
    text = current or ""
    span = find_block(text, layout)
    if span is not None:
        return Outside(text[: span.start], text[span.end :])
    return Outside(text + layout.separator if text else "", "")


def place(current: str | None, block: str | None, layout: Layout) -> str:
    """``current`` with our block replaced by ``block``, added, or (``None``) removed."""
    around = outside(current, layout)
    if block is not None:
        return around.before + block + around.after
    if find_block(current or "", layout) is None:
        return current or ""
    return around.before.removesuffix(layout.separator) + around.after
