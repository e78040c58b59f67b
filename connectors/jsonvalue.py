"""Python values as vendor JSON expects them: dates ``YYYY-MM-DD``, datetimes ISO in UTC,
decimals as plain numbers, sets and tuples as lists."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any


def json_value(value: Any) -> Any:
    """``value`` in a form ``json.dumps`` and the service desks accept."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, tuple | set | frozenset):
        return [json_value(v) for v in value]
    return value
