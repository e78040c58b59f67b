"""Demo and benchmark data: the demo world's customers as Freshdesk companies and contacts."""

from __future__ import annotations

from connectors.service.freshdesk.simulator.store import FreshdeskStore
from sandbox.demo_data import CUSTOMERS

AGENT_WRITTEN = {
    "acme": "Key account since 2019. Escalate billing questions to Riley Chen first.",
}
"""Descriptions agents wrote by hand; dealbridge must keep them when it adds its note block."""


def seed_demo(store: FreshdeskStore) -> dict[str, tuple[int, int]]:
    """One company (with its domain and customer number) and one contact per demo customer.

    Returns ``{customer key: (company id, contact id)}`` for tests and the demo.
    """
    ids: dict[str, tuple[int, int]] = {}
    for customer in CUSTOMERS:
        company = store.add_company(
            customer.name,
            domains=(customer.domain,),
            description=AGENT_WRITTEN.get(customer.key),
            custom_fields={"cf_customer_number": customer.external_id},
        )
        contact = store.add_contact(
            customer.contact_name, customer.contact_email, company_id=company["id"]
        )
        ids[customer.key] = (company["id"], contact["id"])
    return ids


def seed_bulk(store: FreshdeskStore, count: int, *, start: int = 0) -> None:
    """``count`` synthetic customers (a company and a contact each) for benchmarks."""
    for n in range(start, start + count):
        company = store.add_company(
            f"Bulk Customer {n:06d}",
            domains=(f"bulk{n:06d}.example",),
            custom_fields={"cf_customer_number": f"BULK-{n:06d}"},
        )
        store.add_contact(
            f"Bulk Contact {n:06d}", f"ops@bulk{n:06d}.example", company_id=company["id"]
        )
