"""The doc-fakes' injectable clock: Unix seconds that move only when a test says so."""

from __future__ import annotations

START = 1_767_225_600.0
"""2026-01-01T00:00:00Z: a fixed, round start so timestamps in assertions read easily."""


class FakeClock:
    """Wall-clock seconds for a fake vendor; ``advance`` is the only way time passes."""

    def __init__(self, start: float = START) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"time only moves forward, not by {seconds} s")
        self._now += seconds
