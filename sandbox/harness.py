"""What a simulator module hands the contract suite and the demo: its app, controls and faults.

Every ``sandbox/<vendor>.py`` defines ``contract_harness() -> ContractHarness`` so that
``tests/contract`` can run the same behavioural checks over every registered connector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.controls import ASGIApp, Fault, SimControls


@dataclass
class ContractHarness:
    """A seeded simulator plus the config that points a connector at it."""

    kind: str
    app: ASGIApp | None
    """The simulator as an ASGI app, already wrapped by ``controls`` (None: not an HTTP vendor)."""
    controls: SimControls
    config: dict[str, Any]
    """Raw connector config (secrets as ``${ENV}`` references) for ``registry.get_spec(kind)``."""
    env: dict[str, str]
    """Environment the config's secret references need."""
    secret: str
    """A credential value that must never appear in logs or errors."""
    throttle_fault: Fault | None
    """How this vendor says "slow down" (served once, then the request succeeds)."""
    auth_fault: Fault | None
    """How this vendor says "your credentials are no good" (served on every call)."""
    seed_equal_timestamps: Callable[[int], None] | None = None
    """Sources: add ``n`` deals that share one modification time (cursor tie-break check)."""
    seed_customers: Callable[[int], None] | None = None
    """Targets: add ``n`` customer records (identity paging check)."""
    text_field: tuple[str, str] | None = None
    """Targets: a record kind and a writable text field of it, for the read/write/lookup checks."""
    page_size: int = 5
    """The page size the harness config asks for, so a few records span several pages."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Vendor-specific pieces; ``ticket_config``: settings a target needs on top of ``config``
    before it can open alert tickets (``TicketDesk``)."""
