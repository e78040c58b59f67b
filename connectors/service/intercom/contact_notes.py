"""The note as a contact note (``note_place: contact_note``): append-only, read back as text.

Intercom notes can be created and listed, never updated or deleted (FACTS.md §7.1, §7.2).
So the "field" dealbridge reads is the newest note its own admin added to the contact, and a
change of the note adds a new note; the old ones stay in the contact's history. Because the
newest of our notes is what we compare against, a rerun after a crash (the note added, the run
not committed) finds the note already there and adds nothing.

Notes are HTML (a plain ``Hello`` comes back as ``<p>Hello</p>``, §7.1 example): each line is
sent as an escaped paragraph and read back into lines, so text written is text read. Notes
cannot be emptied: clearing the note adds a note saying there are no special terms any more,
which reads back as an empty field.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

CLEARED = "dealbridge: no special terms on record any more."
"""The note added when dealbridge's note is cleared; it reads back as an empty field."""

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PARAGRAPH = re.compile(r"<p(?:\s[^>]*)?>(.*?)</p>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def to_html(text: str) -> str:
    """``text`` as a note body: one escaped paragraph per line (``""`` is the cleared note)."""
    lines = text.split("\n") if text else [CLEARED]
    return "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in lines)


def to_text(body: str) -> str:
    """A note body back as text: paragraphs and ``<br>`` become lines, tags go, entities decode."""
    unbroken = _BREAK.sub("\n", body)
    paragraphs = _PARAGRAPH.findall(unbroken)
    text = "\n".join(paragraphs) if paragraphs else unbroken
    plain = html.unescape(_TAG.sub("", text))
    return "" if plain == CLEARED else plain


def current_note(notes: Iterable[Any], admin_id: str) -> str | None:
    """The text of the newest note ``admin_id`` wrote (None when it wrote none)."""
    # a listed note that is not an object names no author, so it is none of ours: at worst
    # the note is added again, never lost
    ours = [n for n in notes if isinstance(n, Mapping) and _author(n) == admin_id]
    if not ours:
        return None
    newest = max(ours, key=_age)
    body = newest.get("body")
    return to_text(body) if isinstance(body, str) else ""


def _author(note: Mapping[str, Any]) -> str | None:
    author = note.get("author")
    if isinstance(author, Mapping) and author.get("id") is not None:
        return str(author["id"])
    return None


def _age(note: Mapping[str, Any]) -> tuple[int, int]:
    created = note.get("created_at")
    when = created if isinstance(created, int) and not isinstance(created, bool) else 0
    raw_id = str(note.get("id") or "")
    return when, int(raw_id) if raw_id.isdigit() else 0
