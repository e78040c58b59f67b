"""Demo and benchmark data: the demo world's customers as Intercom companies and users."""

from __future__ import annotations

from connectors.service.intercom.simulator.store import IntercomStore
from sandbox.demo_data import CUSTOMERS

NOTE_ATTRIBUTE = "dealbridge_terms"
"""The string attribute the demo mappings keep the deal note in (dealbridge's alone)."""


def seed_demo(store: IntercomStore) -> dict[str, tuple[str, str]]:
    """One company (``company_id`` = customer number, website = domain) and one user per demo
    customer; a customer without a number gets the id Intercom's UI would give it.

    Returns ``{customer key: (company id, contact id)}`` (Intercom's ids)."""
    ids: dict[str, tuple[str, str]] = {}
    for number, customer in enumerate(CUSTOMERS):
        company = store.add_company(
            customer.name,
            customer.external_id or f"ui-{number:04d}-{customer.key}",
            website=f"https://www.{customer.domain}",
        )
        contact = store.add_contact(
            customer.contact_name,
            customer.contact_email,
            external_id=f"user-{customer.key}",
            companies=(company["id"],),
            indexed=True,
        )
        ids[customer.key] = (company["id"], contact["id"])
    return ids


def seed_bulk(store: IntercomStore, count: int, *, start: int = 0) -> None:
    """``count`` synthetic customers (a company and a user each) for benchmarks."""
    for n in range(start, start + count):
        company = store.add_company(
            f"Bulk Customer {n:06d}", f"BULK-{n:06d}", website=f"https://bulk{n:06d}.example"
        )
        store.add_contact(
            f"Bulk Contact {n:06d}",
            f"ops@bulk{n:06d}.example",
            external_id=f"U-{n:06d}",
            companies=(company["id"],),
            indexed=True,
        )
