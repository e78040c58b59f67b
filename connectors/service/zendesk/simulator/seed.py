"""Demo and benchmark data: the demo world's customers as Zendesk organizations and end-users."""

from __future__ import annotations

from datetime import datetime, timedelta

from connectors.service.zendesk.simulator.store import ZendeskStore
from sandbox.demo_data import CUSTOMERS

AGENT_NOTES = {"acme": "VIP: always escalate to Tier 2"}
"""Notes agents wrote by hand; dealbridge must keep them when it adds its note block."""


def seed_demo(store: ZendeskStore, now: datetime) -> dict[str, tuple[int, int]]:
    """One organization (name, domain, external id) and one end-user per demo customer.

    Records are dated a few hours apart in the past, so exports page in a stable order.
    Returns ``{customer key: (organization id, user id)}``.
    """
    ids: dict[str, tuple[int, int]] = {}
    start = now - timedelta(hours=2 * len(CUSTOMERS) + 1)
    for number, customer in enumerate(CUSTOMERS):
        when = start + timedelta(hours=2 * number)
        org = store.add_organization(
            customer.name,
            domain_names=[customer.domain],
            external_id=customer.external_id,
            notes=AGENT_NOTES.get(customer.key),
            updated_at=when,
        )
        user = store.add_user(
            customer.contact_name,
            customer.contact_email,
            organization_id=org["id"],
            updated_at=when + timedelta(minutes=30),
        )
        ids[customer.key] = (org["id"], user["id"])
    return ids


def seed_bulk(store: ZendeskStore, count: int, now: datetime, *, start: int = 0) -> None:
    """``count`` synthetic organizations for benchmarks (one second apart, in the past)."""
    first = now - timedelta(seconds=count + 120)
    for n in range(start, start + count):
        store.add_organization(
            f"Bulk Customer {n:06d}",
            domain_names=[f"bulk{n:06d}.example"],
            external_id=f"BULK-{n:06d}",
            updated_at=first + timedelta(seconds=n - start),
        )
