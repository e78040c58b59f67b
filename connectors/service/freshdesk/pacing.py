"""Two request budgets: the account's per-minute limit, and the lower one for listing contacts.

Freshdesk limits are per account per minute (Growth 200, Pro 400, Enterprise 700) with
separate, lower caps on some endpoints, among them listing contacts (20 / 100 / 200)
[support.freshdesk.com/support/solutions/articles/225439, via shared/vendor-apis]. The main
gate paces every request; the contact-list gate additionally spaces contact listings.

``ConnectorOptions.sleep`` is the test seam: when given, time is virtual (real monotonic time
plus everything slept through it), so a 60-second Retry-After costs a test nothing and the
gates still see the time pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.clock import VirtualClock
from connectors.ratelimit import Sleep, VendorGate, Window
from connectors.service.freshdesk.config import FreshdeskConfig


@dataclass(frozen=True)
class Pacing:
    """The gates and the sleeper one connector instance uses."""

    gate: VendorGate
    contact_lists: VendorGate
    retry_sleep: Sleep | None
    """What the HTTP client's retries sleep with (None: tenacity's own asyncio sleep)."""

    async def before_contact_list(self) -> None:
        """Wait for a slot in the contact-list budget (the main gate is taken per request)."""
        await self.contact_lists.take_turn(self.gate.name)


def build_pacing(config: FreshdeskConfig, sleep: Sleep | None, share: float = 1.0) -> Pacing:
    """Gates for ``config``; a given ``sleep`` makes their time virtual (see module doc).
    ``share``: this process's part of the budgets (worker processes spend them together)."""
    timing = VirtualClock(sleep, share)
    # Freshdesk counts both budgets per minute: a sliding window spends a fresh minute at once
    # and never puts more than the budget into one of its minutes.
    return Pacing(
        gate=timing.gate(
            window=Window.per_minute(config.steady_rate), max_in_flight=config.max_in_flight
        ),
        contact_lists=timing.gate(window=Window.per_minute(config.contact_list_rate)),
        retry_sleep=timing.retry_sleep,
    )
