"""SOQL text the target sends, built only from describe-checked API names and escaped literals.

* Identity feed (FACTS.md 4.2): ``WHERE (SystemModstamp > T OR (SystemModstamp = T AND Id >
  'last')) ORDER BY SystemModstamp ASC, Id ASC``: a keyset over (stamp, Id), so rows sharing a
  stamp are neither skipped nor read twice when a read resumes.
* Batched lookups and reads (FACTS.md 4.3): ``WHERE Field IN ('a', 'b', ...)`` (``LIKE`` for
  domains), as many values per query as fit the URI (:meth:`ServiceCloudApi.fits`), at most
  :data:`VALUES_MAX`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from connectors.errors import PermanentError
from connectors.service.servicecloud.payloads import (
    PERSON_FLAG,
    STAMP,
    datetime_literal,
    like_literal,
    literal,
)

ORDER = f"ORDER BY {STAMP} ASC, Id ASC"
VALUES_MAX = 200
"""Values per IN list: a write batch's worth of ids (200) in one query."""
LIKES_MAX = 50
"""Domains per query: each is a LIKE of its own, far heavier than an IN value."""


def select(sobject: str, fields: Sequence[str], where: str | None = None, order: str = "") -> str:
    """``SELECT a, b FROM Object [WHERE ...] [ORDER BY ...]``; names come from describe."""
    text = f"SELECT {', '.join(dict.fromkeys(fields))} FROM {sobject}"  # noqa: S608 - API names
    if where:
        text += f" WHERE {where}"
    return f"{text} {order}" if order else text


def business_only(person_flag: bool) -> str | None:
    """Leave person contacts out of contact reads: they are reached through their account."""
    return f"{PERSON_FLAG} = false" if person_flag else None


def after(stamp: datetime, record_id: str) -> str:
    """Rows after (``stamp``, ``record_id``) in ``ORDER`` (the stamp in whole seconds)."""
    moment = datetime_literal(stamp)
    return f"({STAMP} > {moment} OR ({STAMP} = {moment} AND Id > {literal(record_id)}))"


def both(*conditions: str | None) -> str | None:
    """Conditions ANDed, each in parentheses (SOQL refuses AND and OR mixed without them)."""
    parts = [c for c in conditions if c]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else " AND ".join(f"({p})" for p in parts)


def in_list(field: str, values: Sequence[str]) -> str:
    """``Field IN ('a', 'b')``."""
    return f"{field} IN ({', '.join(literal(v) for v in values)})"


def contains_any(field: str, values: Sequence[str]) -> str:
    """``Field LIKE '%a%' OR Field LIKE '%b%'`` (for hosts inside a Website URL)."""
    return " OR ".join(f"{field} LIKE {like_literal(v)}" for v in values)


def fitting(
    values: Sequence[str],
    render: Callable[[Sequence[str]], str],
    fits: Callable[[str], bool],
    most: int,
) -> Iterator[str]:
    """Queries covering ``values``, each as long as the URI allows and at most ``most`` values.

    A single value that cannot fit on its own is refused: it would fit no query at all."""
    start = 0
    while start < len(values):
        end = min(len(values), start + most)
        while end > start + 1 and not fits(render(values[start:end])):
            end = start + max(1, (end - start) // 2)
        query = render(values[start:end])
        if not fits(query):
            raise PermanentError(
                f"value {values[start][:40]!r}... is too long for one Salesforce query",
                who_acts="admin",
                operation="build query",
            )
        yield query
        start = end
