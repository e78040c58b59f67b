"""Decoding vendor answers: what ``json.loads`` gives, whichever parser did it, except that a
lone surrogate (which no store or desk can hold) reads as U+FFFD."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.jsonbody import decode_json


def replaced(value: Any) -> Any:
    """``value`` with each surrogate code point of its texts and keys replaced, one character
    at a time (the plain reading of what ``decode_json`` promises)."""
    if isinstance(value, str):
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    if isinstance(value, list):
        return [replaced(item) for item in value]
    if isinstance(value, dict):
        return {replaced(key): replaced(item) for key, item in value.items()}
    return value


def loads(body: bytes) -> Any:
    """The reference: ``json.loads`` with lone surrogates replaced."""
    return replaced(json.loads(body))


TEXT_WITH_SURROGATES = st.lists(
    st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d"]) | st.characters(),
    max_size=8,
).map("".join)
"""Text holding lone surrogates (``st.text()`` never draws them), escaped by ``ensure_ascii``,
or written as their bytes (``surrogatepass``)."""

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # past 64 bits too: json.loads keeps them exact
    | st.floats()  # NaN and Infinity too: json.dumps writes them, json.loads reads them
    | st.text()
    | TEXT_WITH_SURROGATES,
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text() | TEXT_WITH_SURROGATES, inner, max_size=5),
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
    assert outcome(decode_json, body) == outcome(loads, body)


@settings(max_examples=150)
@given(JSON_VALUES, st.booleans())
def test_whatever_json_carries_decodes_to_text_utf8_can_hold(value: Any, ascii_only: bool) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    json.dumps(decode_json(body), ensure_ascii=False).encode("utf-8")  # raises if it cannot


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
    assert outcome(decode_json, body) == outcome(loads, body)


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
        (b'["\\ud800"]', "['\ufffd']"),
        (b'{"a\\udc00": "\\ud83d\\ude00 \\ud83d"}', "{'a\ufffd': '\U0001f600 \ufffd'}"),
        (b'["\xed\xa0\x80"]', "['\ufffd']"),  # a surrogate's bytes, not escaped
        (b'\xef\xbb\xbf{"a": 1, "a": 2}', "{'a': 2}"),
    ],
)
def test_corners_decode_as_json_loads_does(body: bytes, expected: str) -> None:
    assert repr(decode_json(body)) == expected


@pytest.mark.parametrize("depth", [500, 100_000])
def test_json_nested_past_what_can_be_read_fails_as_any_unreadable_body_does(depth: int) -> None:
    """``json.loads`` raises RecursionError there, which no caller's ``except ValueError``
    catches: one such answer stopped the run instead of failing its request."""
    with pytest.raises(ValueError, match="nested too deeply"):
        decode_json(b"[" * depth + b"]" * depth)
    with pytest.raises(ValueError, match="nested too deeply"):
        decode_json(b'{"a": ' * depth + b'"\\ud83d"' + b"}" * depth)
