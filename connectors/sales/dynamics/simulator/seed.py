"""Filling the simulated environment: a Central territory over the demo world's customers, tie
tests, and bulk volume for the requests-per-deal measurement.

The demo world (``sandbox.demo_data``) has no Dynamics territory yet; these deals use its
customers (names, domains, external ids as ``new_customernumber``) so that a later demo
territory finds the same desk records, plus one account no desk knows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sandbox import demo_data

if TYPE_CHECKING:
    from connectors.sales.dynamics.simulator.simulator import DynamicsSimulator

NET = {"Net 30": 100000000, "Net 45": 100000001, "Net 60": 100000002}
SERVICES = {
    "Onsite training": 100000000,
    "Priority support": 100000001,
    "Free migration": 100000002,
    "Quarterly review": 100000003,
}
CENTRAL = 3


@dataclass(frozen=True)
class CentralDeal:
    """One demo deal of the Central territory."""

    deal_id: str
    customer: str
    name: str
    amount: float
    discount: float | None
    terms: str | None
    services: tuple[str, ...]
    sla: str | None
    valid_days: int
    approved_by: str | None
    won: bool = True
    days_ago: int = 2


DEALS = (
    CentralDeal(
        "6f1d0c2e-0a01-4d3b-9b8e-c0a1d2e3f401",
        "globex",
        "Globex central hub",
        56000.0,
        12.0,
        "Net 45",
        ("Priority support",),
        "Named TAM",
        240,
        "Sales Director",
    ),
    CentralDeal(
        "6f1d0c2e-0a01-4d3b-9b8e-c0a1d2e3f402",
        "umbrella",
        "Umbrella labs",
        31000.0,
        8.0,
        "Net 30",
        ("Onsite training", "Quarterly review"),
        None,
        180,
        "Sales Director",
    ),
    CentralDeal(
        "6f1d0c2e-0a01-4d3b-9b8e-c0a1d2e3f403",
        "stark",
        "Stark field kits",
        88000.0,
        15.0,
        "Net 60",
        (),
        "4h on-site swap",
        365,
        "VP Sales",
    ),
    CentralDeal(
        "6f1d0c2e-0a01-4d3b-9b8e-c0a1d2e3f404",
        "wayne-fdn",
        "Wayne Foundation gala",
        12000.0,
        5.0,
        "Net 30",
        (),
        None,
        90,
        "Sales Director",
    ),
    CentralDeal(
        "6f1d0c2e-0a01-4d3b-9b8e-c0a1d2e3f405",
        "vandelay",
        "Vandelay imports",
        7000.0,
        10.0,
        "Net 30",
        (),
        None,
        60,
        None,
    ),
    CentralDeal(
        "6f1d0c2e-0a01-4d3b-9b8e-c0a1d2e3f406",
        "initech",
        "Initech expansion",
        15000.0,
        30.0,
        "Net 60",
        ("Free migration",),
        None,
        120,
        None,
        won=False,
    ),
)


def seed_demo(sim: DynamicsSimulator) -> list[str]:
    """The Central deals with their accounts and primary contacts."""
    now = sim.clock.now().replace(microsecond=0)
    ids: list[str] = []
    for deal in DEALS:
        known = demo_data.customer(deal.customer)
        name = known.name if known else deal.customer.capitalize() + " Industries"
        domain = known.domain if known else f"{deal.customer}.example"
        email = known.contact_email if known else f"buyer@{domain}"
        contact = sim.add_contact(email, known.contact_name if known else "")
        account = sim.add_account(
            name,
            websiteurl=f"https://www.{domain}",
            emailaddress1=email,
            new_customernumber=known.external_id if known else None,
            primarycontactid=contact,
        )
        modified = now - timedelta(days=deal.days_ago, hours=len(ids))
        ids.append(
            sim.add_deal(
                deal.name,
                modifiedon=modified,
                opportunityid=deal.deal_id,
                parentaccountid=account,
                parentcontactid=contact,
                estimatedvalue=deal.amount,
                statecode=1 if deal.won else 0,
                statuscode=3 if deal.won else 1,
                new_specialdiscount=deal.discount,
                new_paymentterms=NET[deal.terms] if deal.terms else None,
                new_freeservices=tuple(SERVICES[s] for s in deal.services) or None,
                new_slapromise=deal.sla,
                new_termsvaliduntil=(now + timedelta(days=deal.valid_days)).date(),
                new_approvedby=deal.approved_by,
                new_region=CENTRAL,
                new_hasspecialterms=True,
            )
        )
    return ids


def seed_equal_timestamps(sim: DynamicsSimulator, count: int, at: datetime) -> list[str]:
    """``count`` deals sharing one ``modifiedon``, for cursor tie-break checks."""
    account = sim.add_account(
        "Tie Breakers Ltd",
        websiteurl="https://www.tiebreakers.example",
        new_customernumber="CUST-TIE",
    )
    return [
        sim.add_deal(
            f"Tie deal {n + 1}",
            modifiedon=at,
            parentaccountid=account,
            new_specialdiscount=5.0 + n,
            new_paymentterms=NET["Net 30"],
        )
        for n in range(count)
    ]


def seed_bulk(sim: DynamicsSimulator, count: int, start: datetime, seed: int = 7) -> list[str]:
    """``count`` synthetic deals over a pool of 200 accounts; every three share a second."""
    rng = random.Random(seed)
    accounts = [
        sim.add_account(
            f"Bulk Customer {n}",
            websiteurl=f"https://www.bulk{n}.example",
            new_customernumber=f"BULK-{n:05d}",
        )
        for n in range(min(count, 200) or 1)
    ]
    return [
        sim.add_deal(
            f"Bulk deal {n}",
            modifiedon=start + timedelta(seconds=n // 3),
            parentaccountid=accounts[n % len(accounts)],
            estimatedvalue=float(rng.randrange(1_000, 200_000, 500)),
            new_specialdiscount=float(rng.randrange(0, 30)),
            new_paymentterms=rng.choice(tuple(NET.values())),
            new_termsvaliduntil=(start + timedelta(days=rng.randrange(-30, 365))).date(),
            new_hasspecialterms=True,
        )
        for n in range(count)
    ]
