"""HubSpot's time values: ISO 8601 strings or epoch milliseconds, always read as UTC.

Property values are strings (deal/company/contact specs: ``properties`` is a string map).
``hs_lastmodifieddate`` comes back as ``"2024-05-10T16:50:41.180Z"``; search filters on
date-time properties take epoch milliseconds as the value string. Date-only properties
(``"2024-05-31"``) mean midnight UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.record_values import as_utc, unix_ms_time

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(raw: object) -> datetime | None:
    """Parse an ISO string, a date, or epoch milliseconds (as text or number); None if neither."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return unix_ms_time(raw)
    text = str(raw).strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return unix_ms_time(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    return as_utc(parsed)


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds, the form HubSpot's search filters compare date-times in."""
    return int(moment.timestamp() * 1000)


def from_ms(millis: int) -> datetime:
    """The UTC moment at ``millis`` since the epoch."""
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def iso_ms(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``, as HubSpot writes timestamps."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
