"""Text hygiene for the agent note: the one place every value passes before an agent reads it.

A rep's text can carry anything: control characters, bidi overrides that make "%05 tnuocsid"
read as "discount 50%", Unicode line and paragraph separators, pasted markup, and lines that
look like dealbridge's own block markers. :func:`clean` turns any value into one line of
plain, inert text; :func:`shorten` cuts a long text with a visible count of what was left out;
:func:`for_html` escapes a clean line for desks that render the field as HTML.

Every function here is idempotent (``clean(clean(x)) == clean(x)``), which is what lets the
note be rendered again from what it already shows without changing.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any

_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
"""Unicode's "Other" characters: controls, format characters (bidi embeddings, overrides and
isolates, U+200E/F, U+061C, zero-width spaces, byte order marks), surrogates, private-use and
unassigned code points; nothing an agent can read. Whitespace controls (tab, CR, LF, VT, FF,
U+0085, U+001C-1F) are kept until :func:`clean` turns them into spaces."""
_JOINERS = frozenset("\u200c\u200d")
"""Zero-width (non-)joiners are format characters that scripts and emoji sequences need."""


class _Dropped(dict[int, str | None]):
    """``str.translate`` table deciding each code point once (by its Unicode category), so
    100,000 characters of hostile text cost one pass in C rather than a Python loop."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        kept = char.isspace() or char in _JOINERS
        self[code] = char if kept or unicodedata.category(char) not in _DROPPED_CATEGORIES else None
        return self[code]


_DROPPED = _Dropped()
_TAG = re.compile(r"<[A-Za-z/!?][^>]*>")
"""A tag, comment or declaration as an HTML tokenizer starts it, up to the next ``>``."""
_UNCLOSED = re.compile(r"<(?=[A-Za-z/!?])")
"""A tag start with no ``>`` after it: spaced out, so that no text printed after the value
(a template's next value) can close it into a tag."""

CUT_MARK = "…[+{n} chars]"
"""Ends every shortened text: the agent sees that, and how much, is left out."""
MARKER_LEAD = "==="
NEUTRAL_LEAD = "= = ="
"""A line of the note that would begin like a block marker begins like this instead."""


class Clean(str):
    """Text that :func:`clean` made: cleaning it again gives it back as it is (``clean`` is
    idempotent), so :func:`clean` returns it without looking at it again.

    The note renderer marks each deal line it cleaned (:meth:`NoteTemplates.line
    <sync_jobs.domain.notes.NoteTemplates.line>`): the note body cleans every line once
    more (any renderer may hand it anything), and for a deal line that second pass over the
    whole line was a tenth of rendering it. Only :func:`cleaned` makes one."""

    __slots__ = ()


def cleaned(value: Any) -> Clean:
    """:func:`clean`'s text, marked as such (see :class:`Clean`)."""
    return Clean(clean(value))


def clean(value: Any) -> str:
    """Any value as one line of inert plain text.

    Characters of Unicode's "Other" categories are removed (except zero-width joiners); every
    kind of line break (CR, LF, CRLF, VT, FF, U+0085, U+2028, U+2029) and run of whitespace
    becomes one space; markup tags of any length are removed. A removed tag leaves a space,
    so the text around it can never join into a new tag (``<<b>script>``), and a ``<`` that
    starts no complete tag is followed by a space (``a<b`` reads ``a< b``).

    Each step first asks (in C) whether it has anything to do: clean text, however long,
    costs a couple of scans, which matters because the fitting renders a deal many times.
    A :class:`Clean` text is clean already: it comes back as it is.
    """
    if type(value) is Clean:
        return value
    text = "" if value is None else str(value)
    if not text.isprintable():
        if _may_hold_controls(text):
            text = text.translate(_DROPPED)
        text = " ".join(text.split())
    elif "  " in text or text[:1] == " " or text[-1:] == " ":
        text = " ".join(text.split())
    if "<" in text:
        inert = _UNCLOSED.sub("< ", _without_tags(text))
        if inert != text:
            text = " ".join(inert.split())
    return text


def _may_hold_controls(text: str) -> bool:
    """False for most text and for all clean text, decided in C (no per-character loop)."""
    if text.isprintable():
        return False
    for joiner in _JOINERS:  # clean emoji sequences keep theirs
        text = text.replace(joiner, "")
    return not "".join(text.split()).isprintable()


def _without_tags(text: str) -> str:
    """Replace each tag by a space: ``<`` followed by a letter, ``/``, ``!`` or ``?``, up to
    the next ``>``, at any length.

    Only text up to the last ``>`` can hold a tag; there every tag start finds its end, which
    keeps one regex pass linear even on hostile input (thousands of unclosed ``<a``)."""
    last = text.rfind(">")
    if last == -1:
        return text
    return _TAG.sub(" ", text[: last + 1]) + text[last + 1 :]


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters; a cut one ends with ``…[+N chars]``."""
    if len(text) <= limit:
        return text
    keep = max(0, limit - len(CUT_MARK.format(n=len(text))))
    return text[:keep] + CUT_MARK.format(n=len(text) - keep)


def neutralise(line: str) -> str:
    """A line that begins like a block marker (``===``) is changed visibly, never dropped."""
    if line.startswith(MARKER_LEAD):
        return NEUTRAL_LEAD + line[len(MARKER_LEAD) :]
    return line


def note_line(value: Any) -> str:
    """A line ready for the note body: clean, and never mistaken for a marker."""
    return neutralise(clean(value))


def for_html(line: str) -> str:
    """A clean line as HTML text: ``&``, ``<`` and ``>`` escaped."""
    return html.escape(line, quote=False)
