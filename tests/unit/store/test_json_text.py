"""A JSON column's value is written as exactly the text ``json.dumps`` makes of it (its fast
paths for texts, numbers and constants change how fast, not what)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync_jobs.store.bulk import json_text

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(JSON_VALUES)
def test_every_value_is_written_as_json_dumps_writes_it(value: Any) -> None:
    assert json_text(value) == json.dumps(value)


def test_subclasses_of_int_and_str_go_the_long_way() -> None:
    class Level(int):
        def __repr__(self) -> str:
            return "Level"

    assert json_text(Level(3)) == json.dumps(Level(3)) == "3"
