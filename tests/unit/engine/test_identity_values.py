"""Identity values are normalised as they always were: the scheme is stripped only where one
can be (``://`` in the text), with the same answer as stripping with the pattern always."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.domain.values import normalize_domain

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def reference_domain(value: str) -> str:
    """``normalize_domain`` as it was before the shortcut (kept plain)."""
    text = value.strip().lower()
    if "@" in text and "/" not in text:
        text = text.rsplit("@", 1)[1]
    text = _SCHEME.sub("", text)
    text = text.split("/", 1)[0].split(":", 1)[0].split("?", 1)[0]
    return text.removeprefix("www.").strip(".")


PIECES = st.sampled_from(
    ["https", "HTTP", "x+y.z-1", "://", ":/", ":", "/", "@", "www.", "Acme.Example", "?q", " ", "."]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECES | st.text(max_size=3), max_size=6).map("".join))
def test_a_domain_is_normalised_as_before(value: str) -> None:
    assert normalize_domain(value) == reference_domain(value)
