"""Decoding vendor answers: exactly what ``json.loads`` gives, whichever parser did it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.jsonbody import decode_json

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # past 64 bits too: json.loads keeps them exact
    | st.floats()  # NaN and Infinity too: json.dumps writes them, json.loads reads them
    | st.text(),  # lone surrogates too (escaped by ensure_ascii)
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def outcome(decode: Any, body: bytes) -> str:
    """What decoding ``body`` gives, typed and ordered (``repr``: NaN equals NaN, ``1`` is
    not ``1.0``), or the error's type and message."""
    try:
        return repr(decode(body))
    except ValueError as exc:
        return f"{type(exc).__name__}: {exc}"


@settings(max_examples=150)
@given(JSON_VALUES, st.booleans(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]))
def test_any_json_text_decodes_as_json_loads_does(
    value: Any, ascii_only: bool, encoding: str
) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode(encoding, "surrogatepass")
    assert outcome(decode_json, body) == outcome(json.loads, body)


@settings(max_examples=300)
@given(st.binary(max_size=40) | st.text(max_size=40).map(lambda t: t.encode("utf-8", "replace")))
@example(b"")
@example(b"[1,]")
@example(b"[1] trailing")
@example(b'"\xff"')
@example(b'{"a": 1, "a": 2}')
@example(b"123456789012345678901234567890")
@example(b"1e400")
@example(b"2.2250738585072011e-308")
def test_any_bytes_decode_or_fail_as_json_loads_does(body: bytes) -> None:
    assert outcome(decode_json, body) == outcome(json.loads, body)


def number_text(whole: int, fraction: str, exponent: int | None) -> str:
    """A JSON number: ``whole[.fraction][e exponent]``."""
    return (
        f"{whole}{'.' + fraction if fraction else ''}{'' if exponent is None else f'e{exponent}'}"
    )


NUMBER_TEXT = st.builds(
    number_text,
    st.integers(-(10**30), 10**30),
    st.text("0123456789", max_size=25),
    st.none() | st.integers(-400, 400),
)
"""JSON numbers of any length and exponent: the parsers must round each to the same float."""


@settings(max_examples=300)
@given(NUMBER_TEXT)
def test_any_number_decodes_as_json_loads_does(number: str) -> None:
    body = number.encode()
    assert outcome(decode_json, body) == outcome(json.loads, body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[360000000001, 12345678901234567890123]", "[360000000001, 12345678901234567890123]"),
        (b"[NaN, -Infinity, 1.0, 1]", "[nan, -inf, 1.0, 1]"),
        (b'["\\ud800"]', "['\\ud800']"),
        (b'\xef\xbb\xbf{"a": 1, "a": 2}', "{'a': 2}"),
    ],
)
def test_corners_decode_as_json_loads_does(body: bytes, expected: str) -> None:
    assert repr(decode_json(body)) == expected
