"""The identity index's ``keys`` column: the text written is exactly what ``json.dumps`` of
the key pairs (as lists) would have written, whatever the keys hold."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sync_jobs.store.encoded import JsonText
from sync_jobs.store.identity import keys_text

KEY_TEXT = st.text() | st.sampled_from(["external_id", "email", "domain"])
"""Any text (lone surrogates, quotes, backslashes, control and non-ASCII characters)."""
NOT_TEXT = st.none() | st.integers() | st.floats() | st.booleans() | st.lists(st.text(), max_size=2)


def reference(keys: Any) -> str:
    """How the column was written before: the pairs as lists through ``json.dumps``."""
    return json.dumps([list(k) for k in keys])


@settings(max_examples=400)
@given(st.lists(st.tuples(KEY_TEXT, KEY_TEXT), max_size=6))
@example([])
@example([("domain", 'a"b\\c\u2028\ud800.example')])
@example([("email", "\x00\x1f\x7f\u00e9\U0001f600")])
def test_pairs_of_text_are_written_as_json_dumps_writes_them(keys: list[tuple[str, str]]) -> None:
    text = keys_text(keys)
    assert text == reference(keys)
    assert type(text) is JsonText, "the store writes a JsonText as it is"
    assert json.loads(text) == [list(k) for k in keys]


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(KEY_TEXT | NOT_TEXT, KEY_TEXT | NOT_TEXT)
        | st.tuples(KEY_TEXT)
        | st.tuples(KEY_TEXT, KEY_TEXT, KEY_TEXT),
        max_size=4,
    )
)
@example([("domain", 1)])
@example([(None, "a.example")])
@example([("domain",)])
def test_keys_that_are_not_pairs_of_text_are_written_as_json_dumps_writes_them(
    keys: list[tuple[Any, ...]],
) -> None:
    assert keys_text(keys) == reference(keys)
