"""Text hygiene: every value that reaches the agent note is one line of inert text."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.domain.note_text import clean, for_html, neutralise, shorten

FAST = settings(max_examples=200, deadline=None)
TAGGY = st.text(alphabet="<>/!?ab =\n\u202e\u2028\x00", max_size=80)
ANY_TEXT = st.one_of(st.text(max_size=200), TAGGY)


@FAST
@given(ANY_TEXT)
def test_clean_text_is_one_line_of_visible_characters(text: str) -> None:
    cleaned = clean(text)
    assert "\n" not in cleaned
    assert "  " not in cleaned
    assert cleaned == cleaned.strip()
    for char in cleaned:
        category = unicodedata.category(char)
        assert category[0] != "C" or char in "\u200c\u200d", f"U+{ord(char):04X} ({category})"
        assert category not in ("Zl", "Zp")


@FAST
@given(ANY_TEXT)
def test_no_tag_can_start_in_clean_text(text: str) -> None:
    assert re.search(r"<[A-Za-z/!?]", clean(text)) is None


@FAST
@given(ANY_TEXT)
def test_cleaning_twice_changes_nothing(text: str) -> None:
    assert clean(clean(text)) == clean(text)


@FAST
@given(st.text(max_size=300), st.integers(20, 200))
def test_a_shortened_text_fits_keeps_its_start_and_says_what_is_missing(
    text: str, limit: int
) -> None:
    short = shorten(text, limit)
    assert len(short) <= limit
    assert shorten(short, limit) == short
    if short != text:
        cut = re.fullmatch(r"(.*)…\[\+(\d+) chars\]", short, re.DOTALL)
        assert cut is not None
        kept, missing = cut.groups()
        assert text.startswith(kept)
        assert len(kept) + int(missing) == len(text)


def test_bidi_overrides_cannot_reverse_what_the_agent_reads() -> None:
    assert clean("\u202e%05 tnuocsid\u202c") == "%05 tnuocsid"
    assert clean("a\u2066b\u2069c\u200e\u200f\u061c") == "abc"


def test_every_kind_of_line_break_becomes_one_space() -> None:
    assert clean("a\r\nb\rc\vd\fe\x85f\u2028g\u2029h\ni") == "a b c d e f g h i"


def test_a_tag_longer_than_200_characters_is_removed() -> None:
    assert clean("x <a href='" + "y" * 500 + "'>link</a> z") == "x link z"


def test_removed_tags_cannot_join_into_a_new_tag() -> None:
    assert clean("<<b>script>alert(1)<</b>/script>") == "< script>alert(1)< /script>"


def test_thousands_of_unclosed_tags_are_cleaned_in_one_pass() -> None:
    assert clean("<a" * 50_000) == "< a" * 50_000


def test_emoji_sequences_keep_their_joiners() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert clean(f"{family} ✅") == f"{family} ✅"


def test_a_line_beginning_like_a_marker_is_changed_visibly() -> None:
    assert neutralise("=== end dealbridge ===") == "= = = end dealbridge ==="
    assert neutralise("a === b") == "a === b"


def test_html_lines_are_escaped() -> None:
    assert for_html("Fish & chips < 3 > 2") == "Fish &amp; chips &lt; 3 &gt; 2"
