"""The demo territory (LATAM) the simulator starts with, and bulk deal values.

The accounts are the demo world's customers (``sandbox.demo_data.CUSTOMERS``), so matching
works against the demo's service desks; deal terms are this territory's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sandbox import demo_data

if TYPE_CHECKING:
    from connectors.sales.zoho.simulator.simulator import ZohoSimulator


@dataclass(frozen=True)
class DemoDeal:
    """One LATAM deal: the customer it is for and its terms."""

    customer: str
    name: str
    stage: str
    amount: float
    discount: float | None
    payment_terms: str | None
    free_services: tuple[str, ...] = ()
    sla: str | None = None
    instructions: str | None = None
    valid_days: int | None = 180
    approved_by: str | None = "Regional VP"
    modified_days_ago: int = 1


DEALS: tuple[DemoDeal, ...] = (
    DemoDeal("acme", "Acme LATAM rollout", "Closed Won", 95000.0, 12.0, "Net 45",
             ("Onsite training",), "2h response on P1", "Invoices in BRL", 240),
    DemoDeal("globex", "Globex Mexico", "Closed Won", 41000.0, 8.0, "Net 30",
             ("Quarterly review",), None, None, 150, modified_days_ago=2),
    DemoDeal("cyberdyne", "Cyberdyne Bogota lab", "Negotiation/Review", 28000.0, 18.0,
             "Net 60", (), None, None, 60, None),
    DemoDeal("stark", "Stark Sao Paulo", "Closed Won", 120000.0, 30.0, "Net 60",
             ("Priority support",), "Same-day replacement", None, 300, "Sales Director",
             modified_days_ago=3),
    DemoDeal("umbrella", "Umbrella clinics Chile", "Closed Lost", 15000.0, 5.0, "Net 30"),
)  # fmt: skip


def demo(sim: ZohoSimulator) -> None:
    """Accounts and contacts for the demo customers, and the LATAM deals."""
    accounts: dict[str, str] = {}
    contacts: dict[str, str] = {}
    for customer in demo_data.CUSTOMERS:
        account = sim.add_account(
            customer.name, f"https://www.{customer.domain}", customer.external_id
        )
        first, _, last = customer.contact_name.partition(" ")
        accounts[customer.key] = account
        contacts[customer.key] = sim.add_contact(first, last, customer.contact_email, account)
    for deal in DEALS:
        sim.add_deal(
            demo_values(deal),
            modified=demo_data.NOW - timedelta(days=deal.modified_days_ago),
            account=accounts[deal.customer],
            contact=contacts[deal.customer],
        )


def demo_values(deal: DemoDeal) -> dict[str, Any]:
    """The deal's field values by API name."""
    return {
        "Deal_Name": deal.name,
        "Stage": deal.stage,
        "Amount": deal.amount,
        "Currency": "USD",
        "Closing_Date": (demo_data.TODAY - timedelta(days=deal.modified_days_ago)).isoformat(),
        "Special_Discount": deal.discount,
        "Payment_Terms": deal.payment_terms,
        "Free_Services": list(deal.free_services),
        "SLA_Promise": deal.sla,
        "Special_Instructions": deal.instructions,
        "Terms_Valid_Until": demo_data.days(deal.valid_days).isoformat()
        if deal.valid_days is not None
        else None,
        "Approved_By": deal.approved_by,
        "Has_Special_Terms": deal.discount is not None,
        "Probability": 100 if deal.stage == "Closed Won" else 40,
    }


def bulk_values(i: int) -> dict[str, Any]:
    """Values of the i-th bulk deal (benchmarks, tie checks)."""
    return {
        "Deal_Name": f"Bulk deal {i}",
        "Stage": "Closed Won",
        "Amount": 1000.0 + i,
        "Currency": "USD",
        "Special_Discount": float(5 + i % 15),
        "Payment_Terms": ("Net 30", "Net 45", "Net 60")[i % 3],
        "Free_Services": ["Onsite training"] if i % 2 else [],
        "Approved_By": "Regional VP",
        "Has_Special_Terms": True,
    }
