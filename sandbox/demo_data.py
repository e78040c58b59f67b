"""The demo world: one contact center, three sales territories, and their one-off deals.

Every simulator seeds itself from these values, so the Salesforce, HubSpot and spreadsheet
territories describe the same customers that Zendesk or Freshdesk hold. Dates are relative to
"today" so the demo always has active and expired terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True)
class DemoCustomer:
    """A customer as the contact center knows it."""

    key: str
    name: str
    domain: str
    external_id: str | None
    contact_email: str
    contact_name: str


@dataclass(frozen=True)
class DemoDeal:
    """A one-off deal closed by a territory rep."""

    id: str
    territory: str
    system: str
    customer_key: str
    """Which :class:`DemoCustomer` the deal's account is (by name/domain/id in the CRM)."""
    name: str
    stage: str
    amount: float
    currency: str
    owner_name: str
    owner_email: str
    discount_percent: float | None
    payment_terms: str | None
    free_services: tuple[str, ...] = ()
    sla: str | None = None
    instructions: str | None = None
    valid_until: date | None = None
    approved_by: str | None = None
    account_name: str | None = None
    account_domain: str | None = None
    modified_days_ago: int = 1
    extra: dict[str, str] = field(default_factory=dict)


NOW = datetime.now(UTC).replace(microsecond=0)
"""One "now" per process, so every simulator (and test) sees the same demo times."""
TODAY = NOW.date()


def days(n: int) -> date:
    """A date ``n`` days from today (negative for the past)."""
    return TODAY + timedelta(days=n)


CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer(
        "acme", "Acme Corporation", "acme.example", "CUST-1001", "ops@acme.example", "Riley Chen"
    ),
    DemoCustomer(
        "globex", "Globex", "globex.example", "CUST-1002", "it@globex.example", "Sam Patel"
    ),
    DemoCustomer(
        "initech", "Initech", "initech.example", None, "billing@initech.example", "Peter Gibbons"
    ),
    DemoCustomer(
        "umbrella",
        "Umbrella Health",
        "umbrella.example",
        "CUST-1004",
        "care@umbrella.example",
        "Alice Abernathy",
    ),
    DemoCustomer("hooli", "Hooli", "hooli.example", None, "gavin@hooli.example", "Gavin Belson"),
    DemoCustomer(
        "stark",
        "Stark Industries",
        "stark.example",
        "CUST-1006",
        "pepper@stark.example",
        "Pepper Potts",
    ),
    DemoCustomer(
        "wayne-ent",
        "Wayne Enterprises",
        "wayne.example",
        None,
        "lucius@wayne.example",
        "Lucius Fox",
    ),
    DemoCustomer(
        "wayne-fdn",
        "Wayne Foundation",
        "wayne.example",
        None,
        "info@wayne.example",
        "Alfred Pennyworth",
    ),
    DemoCustomer(
        "cyberdyne",
        "Cyberdyne Systems",
        "cyberdyne.example",
        "CUST-1009",
        "miles@cyberdyne.example",
        "Miles Dyson",
    ),
)

DEALS: tuple[DemoDeal, ...] = (
    # West territory, Salesforce
    DemoDeal(
        "0065g00000WEST01",
        "West",
        "salesforce",
        "acme",
        "Acme renewal 2027",
        "Closed Won",
        120000.0,
        "USD",
        "Dana Ortiz",
        "dana.ortiz@seller.example",
        15.0,
        "Net 60",
        ("Onsite training", "Priority support"),
        "4h response on P1",
        "Call Dana before any <b>price</b> change",
        days(120),
        "VP Sales",
    ),
    DemoDeal(
        "0065g00000WEST02",
        "West",
        "salesforce",
        "globex",
        "Globex expansion",
        "Closed Won",
        48000.0,
        "USD",
        "Dana Ortiz",
        "dana.ortiz@seller.example",
        10.0,
        "Net 45",
        (),
        None,
        None,
        days(200),
        "VP Sales",
    ),
    DemoDeal(
        "0065g00000WEST03",
        "West",
        "salesforce",
        "initech",
        "Initech pilot",
        "Closed Won",
        9000.0,
        "USD",
        "Marco Ruiz",
        "marco.ruiz@seller.example",
        20.0,
        "Net 30",
        ("Free migration",),
        None,
        None,
        days(-10),
        "Director",
    ),
    DemoDeal(
        "0065g00000WEST04",
        "West",
        "salesforce",
        "wayne-ent",
        "Wayne security suite",
        "Closed Won",
        75000.0,
        "USD",
        "Marco Ruiz",
        "marco.ruiz@seller.example",
        12.0,
        "Net 30",
        (),
        None,
        None,
        days(90),
        "VP Sales",
        account_name="Wayne",
        account_domain="wayne.example",
    ),
    DemoDeal(
        "0065g00000WEST05",
        "West",
        "salesforce",
        "soylent",
        "Soylent catering",
        "Closed Won",
        5000.0,
        "USD",
        "Marco Ruiz",
        "marco.ruiz@seller.example",
        5.0,
        "Net 30",
        (),
        None,
        None,
        days(60),
        None,
        account_name="Soylent Corp",
        account_domain="soylent.example",
    ),
    DemoDeal(
        "0065g00000WEST06",
        "West",
        "salesforce",
        "cyberdyne",
        "Cyberdyne lab upgrade",
        "Negotiation",
        30000.0,
        "USD",
        "Dana Ortiz",
        "dana.ortiz@seller.example",
        25.0,
        "Net 60",
        (),
        None,
        None,
        days(45),
        None,
    ),
    # EMEA territory, HubSpot
    DemoDeal(
        "hs-9001",
        "EMEA",
        "hubspot",
        "acme",
        "Acme EMEA rollout",
        "closedwon",
        80000.0,
        "EUR",
        "Jonas Weber",
        "jonas.weber@seller.example",
        10.0,
        "Net 60",
        ("Onsite training",),
        "Dedicated CSM",
        None,
        days(150),
        "CRO",
    ),
    DemoDeal(
        "hs-9002",
        "EMEA",
        "hubspot",
        "umbrella",
        "Umbrella clinics",
        "closedwon",
        64000.0,
        "EUR",
        "Jonas Weber",
        "jonas.weber@seller.example",
        8.0,
        "Net 30",
        (),
        "99.9% uptime credit",
        None,
        days(300),
        "CRO",
    ),
    # APAC territory, spreadsheet
    DemoDeal(
        "APAC-17",
        "APAC",
        "spreadsheet",
        "hooli",
        "Hooli support plus",
        "Won",
        22000.0,
        "AUD",
        "Mei Tanaka",
        "mei.tanaka@seller.example",
        12.5,
        "Net 30",
        ("Quarterly review",),
        None,
        "Invoice in AUD only",
        days(180),
        "Head of APAC",
    ),
    DemoDeal(
        "APAC-18",
        "APAC",
        "spreadsheet",
        "stark",
        "Stark armour care",
        "Won",
        150000.0,
        "AUD",
        "Mei Tanaka",
        "mei.tanaka@seller.example",
        18.0,
        "Net 45",
        (),
        "Same-day replacement",
        None,
        days(365),
        "Head of APAC",
    ),
)


def customer(key: str) -> DemoCustomer | None:
    """The demo customer with this key, if the contact center knows it."""
    return next((c for c in CUSTOMERS if c.key == key), None)


def deals_for(system: str) -> list[DemoDeal]:
    """The demo deals one territory system holds."""
    return [d for d in DEALS if d.system == system]


def modified_at(deal: DemoDeal) -> datetime:
    """When the deal was last changed in its CRM (whole seconds, UTC)."""
    return NOW - timedelta(days=deal.modified_days_ago, hours=sum(map(ord, deal.id)) % 7)
