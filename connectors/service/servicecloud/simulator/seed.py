"""Demo and benchmark data: the demo world's customers as Service Cloud accounts and contacts.

Each demo customer is a business Account (``Customer_Number__c`` = the shared customer number,
``Website`` as agents type it) with one Contact; with Person Accounts enabled, one consumer is a
person account found by ``PersonEmail``. Agents already wrote a line into Acme's
``Deal_Terms__c``: dealbridge must keep it when it adds its note block.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from connectors.service.servicecloud.simulator.store import OrgStore
from sandbox.demo_data import CUSTOMERS

AGENT_NOTES = {"acme": "VIP: always escalate to Tier 2"}
PERSON = {"FirstName": "Dana", "LastName": "Whitfield", "PersonEmail": "dana@whitfield.example"}
"""The demo's one consumer (a person account), when Person Accounts are enabled."""


def seed_demo(store: OrgStore, now: datetime) -> dict[str, tuple[str, str]]:
    """One account and one contact per demo customer, hours apart in the past; returns
    ``{customer key: (account id, contact id)}`` (``"person"`` for the person account)."""
    ids: dict[str, tuple[str, str]] = {}
    start = now - timedelta(hours=2 * len(CUSTOMERS) + 2)
    for number, customer in enumerate(CUSTOMERS):
        when = start + timedelta(hours=2 * number)
        account = store.insert(
            "Account",
            {
                "Name": customer.name,
                "Website": f"https://www.{customer.domain}/",
                "Customer_Number__c": customer.external_id,
                "Deal_Terms__c": AGENT_NOTES.get(customer.key),
                "OwnerId": "005Dx0000000001AAA",
                **({"IsPersonAccount": False} if store.schema.person_accounts else {}),
            },
            stamp=when,
        )
        first, _, last = customer.contact_name.rpartition(" ")
        contact = store.insert(
            "Contact",
            {
                "AccountId": account["Id"],
                "FirstName": first or None,
                "LastName": last,
                "Name": customer.contact_name,
                "Email": customer.contact_email,
                **({"IsPersonAccount": False} if store.schema.person_accounts else {}),
            },
            stamp=when + timedelta(minutes=30),
        )
        ids[customer.key] = (str(account["Id"]), str(contact["Id"]))
    if store.schema.person_accounts:
        account, contact = store.insert_person_account(
            {**PERSON, "OwnerId": "005Dx0000000001AAA"}, stamp=now - timedelta(hours=1)
        )
        ids["person"] = (str(account["Id"]), str(contact["Id"]))
    return ids


def seed_bulk(store: OrgStore, count: int, now: datetime, *, start: int = 0) -> list[str]:
    """``count`` synthetic business accounts for benchmarks, three per SystemModstamp second
    (ties the identity feed must page through)."""
    first = now - timedelta(seconds=count // 3 + 120)
    return [
        str(
            store.insert(
                "Account",
                {
                    "Name": f"Bulk Customer {n:06d}",
                    "Website": f"https://bulk{n:06d}.example",
                    "Customer_Number__c": f"BULK-{n:06d}",
                    "OwnerId": "005Dx0000000001AAA",
                },
                stamp=first + timedelta(seconds=(n - start) // 3),
            )["Id"]
        )
        for n in range(start, start + count)
    ]
