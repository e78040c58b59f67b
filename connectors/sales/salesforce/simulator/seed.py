"""Filling the simulated org: the demo world's West territory, tie tests, and bulk volume."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from connectors.sales.salesforce.simulator.schema import FREE_SERVICES, PAYMENT_TERMS
from sandbox import demo_data

if TYPE_CHECKING:
    from connectors.sales.salesforce.simulator.simulator import SalesforceSimulator


def seed_demo(sim: SalesforceSimulator) -> list[str]:
    """The demo deals of ``deals_for("salesforce")``, with accounts, owners and contact roles."""
    ids = []
    for deal in demo_data.deals_for("salesforce"):
        known = demo_data.customer(deal.customer_key)
        modified = demo_data.modified_at(deal)
        ids.append(
            sim.add_deal(
                deal.name,
                deal_id=deal.id,
                account_id=_demo_account(sim, deal, known),
                owner_id=sim.user_for(deal.owner_name, deal.owner_email),
                contact_emails=[known.contact_email] if known else [],
                contact_names={known.contact_email: known.contact_name} if known else {},
                modstamp=modified,
                CloseDate=(modified - timedelta(days=3)).date(),
                **_demo_terms(deal),
            )
        )
    return ids


def _demo_account(
    sim: SalesforceSimulator, deal: demo_data.DemoDeal, known: demo_data.DemoCustomer | None
) -> str:
    """The deal's account: Website ``https://www.<domain>``, Customer_Number__c = the customer's
    external id; ``account_name``/``account_domain`` win when the CRM names it differently (or
    the contact center does not know the customer)."""
    name = deal.account_name or (known.name if known else deal.customer_key)
    domain = deal.account_domain or (known.domain if known else f"{deal.customer_key}.example")
    return sim.find_account(name) or sim.add_account(
        name,
        website=f"https://www.{domain}",
        customer_number=known.external_id if known else None,
    )


def _demo_terms(deal: demo_data.DemoDeal) -> dict[str, Any]:
    """The deal's standard fields and one-off terms as Opportunity API names."""
    return {
        "StageName": deal.stage,
        "Amount": deal.amount,
        "CurrencyIsoCode": deal.currency,
        "Special_Discount__c": deal.discount_percent,
        "Payment_Terms__c": deal.payment_terms,
        "Free_Services__c": ";".join(deal.free_services) or None,
        "SLA_Promise__c": deal.sla,
        "Special_Instructions__c": deal.instructions,
        "Terms_Valid_Until__c": deal.valid_until,
        "Approved_By__c": deal.approved_by,
        "Has_Special_Terms__c": True,
    }


def seed_equal_timestamps(sim: SalesforceSimulator, count: int, at: datetime) -> list[str]:
    """``count`` deals sharing one SystemModstamp (ids ascending), for cursor tie-break checks."""
    account = sim.find_account("Tie Breakers Ltd") or sim.add_account(
        "Tie Breakers Ltd", website="https://www.tiebreakers.example", customer_number="CUST-TIE"
    )
    return [
        sim.add_deal(
            f"Tie deal {n + 1}",
            account_id=account,
            contact_emails=["ops@tiebreakers.example"],
            modstamp=at,
            Special_Discount__c=5.0 + n,
            Payment_Terms__c="Net 30",
        )
        for n in range(count)
    ]


def seed_bulk(sim: SalesforceSimulator, count: int, start: datetime, seed: int = 7) -> list[str]:
    """``count`` synthetic deals over a pool of accounts; every three share a SystemModstamp."""
    rng = random.Random(seed)
    owners = [sim.user_for(f"Rep {n}", f"rep{n}@seller.example") for n in range(10)]
    accounts = []
    for n in range(min(count, 200) or 1):
        account = sim.add_account(
            f"Bulk Customer {n}",
            website=f"https://www.bulk{n}.example",
            customer_number=f"BULK-{n:05d}",
        )
        accounts.append((account, f"buyer{n}@bulk{n}.example"))
    ids = []
    for n in range(count):
        account, email = accounts[n % len(accounts)]
        ids.append(
            sim.add_deal(
                f"Bulk deal {n}",
                account_id=account,
                owner_id=owners[n % len(owners)],
                contact_emails=[email],
                modstamp=start + timedelta(seconds=n // 3),
                Amount=float(rng.randrange(1_000, 200_000, 500)),
                Special_Discount__c=float(rng.randrange(0, 30)),
                Payment_Terms__c=rng.choice(PAYMENT_TERMS),
                Free_Services__c=rng.choice((None, *FREE_SERVICES)),
                Terms_Valid_Until__c=(start + timedelta(days=rng.randrange(-30, 365))).date(),
            )
        )
    return ids
