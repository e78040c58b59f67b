"""Path resolution as a property: the node-by-node walk most paths take answers exactly as
the general walk over lists would, for any JSON-shaped payload (markers included)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import unreadable
from sync_jobs.domain.mapping import _resolve_across_lists, resolve_path

KEYS = st.sampled_from(["a", "b", "c", "$unreadable"])
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=3) | st.floats(allow_nan=False)
)
MARKERS = st.builds(unreadable, st.text(max_size=5))


def payloads() -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS | MARKERS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
        max_leaves=12,
    )


@settings(max_examples=400, deadline=None)
@given(
    payload=st.dictionaries(KEYS, payloads(), max_size=3),
    parts=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4),
)
def test_resolve_path_answers_as_the_general_walk(
    payload: dict[str, Any], parts: list[str]
) -> None:
    path = ".".join(parts)
    expected = _resolve_across_lists(payload, path)
    found = resolve_path(payload, path)
    assert found == expected
