"""Times in vendors' records: a moment or None for anything else, never an exception. A
record's ``updated_at`` a vendor got wrong (years away, infinite, year 1 at +01:00) must not
stop the read of every other record on its page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.record_values import iso_time, unix_time
from connectors.sales.dynamics.payloads import parse_modifiedon as dynamics_time
from connectors.sales.hubspot.timefmt import parse_time as hubspot_time
from connectors.sales.pipedrive.client import _date as pipedrive_date_header
from connectors.sales.pipedrive.payloads import parse_time as pipedrive_time
from connectors.sales.salesforce.payloads import parse_datetime as salesforce_time
from connectors.sales.spreadsheet.cells import parse_modified as spreadsheet_time
from connectors.sales.zoho.payloads import parse_time as zoho_time
from connectors.service.zendesk.payloads import parse_time as zendesk_time

READERS: dict[str, Callable[[Any], datetime | None]] = {
    "iso_time": iso_time,
    "unix_time": unix_time,
    "hubspot": hubspot_time,
    "zendesk": zendesk_time,
    "salesforce": salesforce_time,
    "dynamics": dynamics_time,
    "zoho": zoho_time,
    "pipedrive": pipedrive_time,
    "pipedrive Date header": lambda raw: pipedrive_date_header(
        raw if isinstance(raw, str) else None
    ),
    "spreadsheet": lambda raw: spreadsheet_time(str(raw), "%d/%m/%Y"),
}

ODD_TIMES: st.SearchStrategy[Any] = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "99999999999999999999",
        "9" * 5000, "-62135596801000", 10**20, -(10**20), 10**400, 1e300, float("inf"),
        float("-inf"), float("nan"), True, None, "", "soon", [], {},
    ]
)  # fmt: skip
TIMES = (
    ODD_TIMES
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.datetimes().map(lambda moment: moment.isoformat())
    | st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat())
    | st.sampled_from(["Mon, 01 Jan 0001 00:00:00 +0100", "Fri, 31 Dec 9999 23:59:59 -0100"])
)


@settings(max_examples=300, deadline=None)
@given(reader=st.sampled_from(sorted(READERS)), raw=TIMES)
@example(reader="iso_time", raw="0001-01-01T00:00:00+01:00")
@example(reader="zendesk", raw=10**20)
@example(reader="hubspot", raw="99999999999999999999")
@example(reader="salesforce", raw="0001-01-01T00:00:00.000+0100")
@example(reader="spreadsheet", raw="9999-12-31T23:59:59-01:00")
@example(reader="pipedrive Date header", raw="Mon, 01 Jan 0001 00:00:00 +0100")
def test_a_vendors_time_reads_as_a_utc_moment_or_none(reader: str, raw: Any) -> None:
    moment = READERS[reader](raw)
    assert moment is None or moment.utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize(
    ("reader", "raw", "expected"),
    [
        ("zendesk", 1715359841, datetime(2024, 5, 10, 16, 50, 41, tzinfo=UTC)),
        ("zendesk", "2024-05-10T16:50:41Z", datetime(2024, 5, 10, 16, 50, 41, tzinfo=UTC)),
        ("hubspot", "1715359841180", datetime(2024, 5, 10, 16, 50, 41, 180000, tzinfo=UTC)),
        ("unix_time", 0, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_times_in_range_read_as_before(reader: str, raw: Any, expected: datetime) -> None:
    assert READERS[reader](raw) == expected
