"""The fingerprint-map cursor and the pages it is advanced by.

A sheet has no trustworthy change log, so the cursor is the content itself: a JSON object
``{deal id: fingerprint}`` (16 hex chars of sha256 per row). A row whose fingerprint differs
from the cursor is a changed deal; an id in the cursor that no sheet holds any more is a
deleted deal.

Every page's checkpoint is "the old map with exactly this page's deals and those of the pages
before it applied" (changed ids take their new fingerprint, deleted ids are removed). Storing
any page's checkpoint is therefore safe: after a crash, the deals of later pages still differ
from the stored map and are yielded again, and no deletion is forgotten. After the last page
the map equals the sheets' current content (except deletions that were held back).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence

from connectors.base import Cursor, DealPage, SourceDeal

Fingerprints = dict[str, str]


def decode_cursor(cursor: Cursor | None) -> Fingerprints | None:
    """The stored map; ``{}`` for no cursor; ``None`` if the text is not a fingerprint map."""
    if cursor is None:
        return {}
    try:
        value = json.loads(cursor.value)
    except ValueError:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return None
    return value


def encode_cursor(fingerprints: Mapping[str, str]) -> Cursor:
    """Compact, key-sorted JSON, so an unchanged map always produces the same text."""
    return Cursor(value=json.dumps(fingerprints, sort_keys=True, separators=(",", ":")))


def pages(
    deals: Sequence[SourceDeal],
    new_fingerprints: Mapping[str, str],
    old: Mapping[str, str],
    page_size: int,
) -> Iterator[DealPage]:
    """Split ``deals`` into pages whose checkpoints apply the deals yielded so far to ``old``.

    Always yields at least one page, so a read that changes nothing still stores its map.
    """
    progress = dict(old)
    for start in range(0, max(len(deals), 1), page_size):
        chunk = tuple(deals[start : start + page_size])
        for deal in chunk:
            if deal.deleted:
                progress.pop(deal.id, None)
            else:
                progress[deal.id] = new_fingerprints[deal.id]
        yield DealPage(deals=chunk, checkpoint=encode_cursor(progress))
