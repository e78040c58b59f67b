"""A vendor's JSON answer as Python values: pydantic-core's parser where it can, the standard
library where it cannot.

Every answer a connector reads is decoded here once (``VendorClient.decode``): a Salesforce
page of 2,000 deals, an export page of 1,000 organizations, a ``show_many`` of 100 records,
a job status with 100 results. ``pydantic_core.from_json`` (pydantic's own Rust parser, no
new dependency) decodes those in about two thirds of the CPU of ``json.loads``, keys shared
through its cache. It refuses a few bodies ``json.loads`` reads (lone surrogate escapes,
byte-order-marked or UTF-16/32 bodies); those go to ``json.loads``, as does every body that
is not JSON at all, so each body decodes to what ``json.loads`` gives, or fails with its
error. (orjson was measured too: faster still, but it reads integers past 64 bits as
floats, which ``json.loads`` keeps exact.)

One difference from ``json.loads``, on purpose: a lone surrogate escape (``"\\ud83d"``, what
a UTF-16 system leaves when it cuts an emoji in half) becomes U+FFFD, the replacement
character, in keys and values alike. JSON can carry it but UTF-8 cannot: the state store
(SQLite, PostgreSQL) and every desk's API refuse it, so one such value in an identity key, an
id or a name stopped the whole run instead of showing as "\ufffd" where the text was broken.

An integer too long for Python's ``int`` to read from text (over 4,000 digits here) reads
as a ``Decimal``, so one such value fails only the record holding it (every record reader
refuses it), not the whole answer.

A body nested deeper than the fallback can walk (hundreds of levels; no vendor's answer comes
near) fails as unreadable, a ValueError like any other, not a RecursionError.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from pydantic_core import from_json


def decode_json(body: bytes) -> Any:
    """``json.loads(body)``, parsed by pydantic-core whenever it accepts the body, with lone
    surrogates replaced (see the module's note)."""
    try:
        return from_json(body, cache_strings="keys")
    except ValueError:
        pass
    # Only here can a lone surrogate be in the result: pydantic-core refuses its escape.
    try:
        return without_lone_surrogates(json.loads(body, parse_int=_integer))
    except RecursionError:
        # Arrays nested thousands deep: pydantic-core refuses them too (its own limit), and
        # json.loads would raise out of every caller's ``except ValueError``.
        raise ValueError("JSON nested too deeply to read") from None


def _integer(digits: str) -> int | Decimal:
    """An integer of the body; one longer than ``int`` reads from text (4,300 digits by
    default: ``json.loads`` raises, and one record's value failed its whole page) as a
    ``Decimal``, which no record reader takes for an id or a field value, so that record is
    reported and the rest of the page read."""
    if len(digits) <= _INT_DIGITS:
        return int(digits)
    return Decimal(digits)


_INT_DIGITS = 4_000
"""Below ``sys.get_int_max_str_digits()``'s default (4,300), sign included."""

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""A surrogate code point in a ``str``: always lone there (``json.loads`` joins an escaped
pair into the one character it encodes)."""


def without_lone_surrogates(value: Any) -> Any:
    """``value`` (decoded JSON) with every lone surrogate in its texts and keys replaced by
    U+FFFD (a copy of every list and dict)."""
    if isinstance(value, str):
        return value if value.isascii() else _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {
            without_lone_surrogates(key): without_lone_surrogates(item)
            for key, item in value.items()
        }
    return value
