"""``dealbridge deal`` lists a deal's stored terms in the terms' field order, whichever order
the stored text holds them in (stage 1 stores them sorted, earlier versions in field order)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.app.report import _in_field_order
from sync_jobs.domain.model import DealTerms
from tests.unit.engine.test_canonical_json import terms


@settings(max_examples=100, deadline=None)
@given(one=terms(), extra=st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
def test_stored_terms_read_in_field_order(one: DealTerms, extra: dict[str, int]) -> None:
    both = one.stored_text()
    form = one.model_dump(mode="json")
    sorted_form = json.loads(both[0]) if both is not None else dict(sorted(form.items()))
    later = {k: v for k, v in extra.items() if k not in form}
    assert _in_field_order(sorted_form | later) == list(form.items()) + list(later.items())
    assert _in_field_order(form | later) == list(form.items()) + list(later.items())
