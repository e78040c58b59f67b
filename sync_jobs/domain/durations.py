"""Durations as admins write them in config.yaml: ``30s``, ``5m``, ``2h``, ``1d``."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``"90s"``, ``"5m"``, ``"2h"``, ``"1d"`` -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration; write e.g. 30s, 5m, 2h or 1d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
