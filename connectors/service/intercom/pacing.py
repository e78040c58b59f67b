"""The request budget: a per-app figure per minute, enforced by Intercom in 10-second windows.

"We evenly distribute this into 10 second windows" (FACTS.md §3.1): an app allowed 1,000 a
minute may send 167 in any 10 seconds, and a burst of 1,000 in the first second of a minute is
refused. So the gate is a sliding 10-second window of a sixth of the minute's budget (one second
of margin for latency and clock skew), and the headers of every answer (§3.2) stop it early
when Intercom counts differently (another integration on the same app).

``ConnectorOptions.sleep`` is the test seam: when given, time is virtual (real monotonic time
plus everything slept through it), so waiting out a window costs a test nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from connectors.clock import VirtualClock
from connectors.ratelimit import Sleep, VendorGate, Window
from connectors.service.intercom.config import IntercomConfig
from connectors.service.intercom.errors import WINDOW_SECONDS


@dataclass(frozen=True)
class Pacing:
    """The gate, the clock it reads and the sleeper retries use."""

    gate: VendorGate
    clock: Callable[[], float]
    retry_sleep: Sleep | None
    """What the HTTP client's retries sleep with (None: tenacity's own asyncio sleep)."""


def build_pacing(config: IntercomConfig, sleep: Sleep | None, share: float = 1.0) -> Pacing:
    """The gate for ``config``; a given ``sleep`` makes its time virtual (see module doc).
    ``share``: this process's part of the budget (worker processes spend it together)."""
    timing = VirtualClock(sleep, share)
    gate = timing.gate(
        window=Window(config.window_limit, seconds=WINDOW_SECONDS, margin=1.0),
        max_in_flight=config.max_in_flight,
    )
    return Pacing(gate=gate, clock=timing.now, retry_sleep=timing.retry_sleep)
