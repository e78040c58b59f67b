"""The simulated company's catalogs and its demo territory (Nordics), from ``sandbox.demo_data``.

Custom deal fields are the ones the example mapping reads (``mappings/nordics-pipedrive.yaml``):
a number, an enum (payment terms), a set (free services), text, a date, and a monetary field;
organizations carry the contact center's customer number and a website (Pipedrive has no
standard domain field, FACTS.md §6.3); persons have an enum role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from connectors.sales.pipedrive.simulator.store import FieldDef, field_key
from sandbox import demo_data

FREE_SERVICES = (
    "Onsite training", "Priority support", "Free migration", "Quarterly review", "Dedicated CSM",
)  # fmt: skip


def _custom(
    entity: str, name: str, kind: str, options: tuple[str, ...] = (), first: int = 0
) -> FieldDef:
    return FieldDef(
        code=field_key(entity, name),
        name=name,
        field_type=kind,
        custom=True,
        options=[{"id": first + i, "label": o} for i, o in enumerate(options)] if options else None,
    )


def _standard(code: str, name: str, kind: str) -> FieldDef:
    return FieldDef(code=code, name=name, field_type=kind, custom=False)


def catalogs() -> dict[str, list[FieldDef]]:
    """What ``GET /api/v2/{deal,organization,person}Fields`` list."""
    return {
        "deal": [
            _standard("title", "Title", "varchar"),
            _standard("value", "Value", "monetary"),
            _standard("currency", "Currency", "varchar_options"),
            _standard("status", "Status", "status"),
            _standard("stage_id", "Stage", "stage"),
            _standard("owner_id", "Owner", "user"),
            _standard("org_id", "Organization", "org"),
            _standard("person_id", "Contact person", "people"),
            _standard("expected_close_date", "Expected close date", "date"),
            _custom("deal", "Special discount (%)", "double"),
            _custom("deal", "Payment terms", "enum", ("Net 30", "Net 45", "Net 60"), first=31),
            _custom("deal", "Free services", "set", FREE_SERVICES, first=41),
            _custom("deal", "SLA promise", "varchar"),
            _custom("deal", "Special instructions", "text"),
            _custom("deal", "Terms valid until", "date"),
            _custom("deal", "Approved by", "varchar"),
            _custom("deal", "Contract value (net)", "monetary"),
        ],
        "organization": [
            _standard("name", "Name", "varchar"),
            _standard("owner_id", "Owner", "user"),
            _standard("address", "Address", "address"),
            _custom("organization", "Customer number", "varchar"),
            _custom("organization", "Website", "varchar"),
        ],
        "person": [
            _standard("name", "Name", "varchar"),
            _standard("emails", "Email", "varchar"),
            _standard("phones", "Phone", "phone"),
            _custom("person", "Contact role", "enum", ("Buyer", "Champion", "Billing"), first=61),
        ],
    }


@dataclass(frozen=True)
class DemoDeal:
    """One Nordics deal, in the demo world's terms."""

    customer: str
    title: str
    status: str
    value: float
    owner: str
    discount: float
    payment_terms: str
    free_services: tuple[str, ...]
    sla: str | None
    valid_until: date
    approved_by: str | None
    modified_days_ago: int


OWNERS = {"Sigrid Berg": "sigrid.berg@seller.example", "Mikko Laine": "mikko.laine@seller.example"}

DEALS: tuple[DemoDeal, ...] = (
    DemoDeal("acme", "Acme Nordic rollout", "won", 56_000.0, "Sigrid Berg", 12.0, "Net 45",
             ("Onsite training",), "Next-business-day onsite", demo_data.days(160),
             "Head of Nordics", 2),
    DemoDeal("globex", "Globex Oslo hub", "won", 31_000.0, "Mikko Laine", 8.0, "Net 30", (),
             None, demo_data.days(90), "Head of Nordics", 3),
    DemoDeal("umbrella", "Umbrella Stockholm labs", "won", 77_000.0, "Sigrid Berg", 15.0,
             "Net 60", ("Priority support", "Quarterly review"), "4h response on P1",
             demo_data.days(240), "CRO", 1),
    DemoDeal("cyberdyne", "Cyberdyne Helsinki pilot", "open", 20_000.0, "Mikko Laine", 18.0,
             "Net 30", (), None, demo_data.days(60), None, 4),
    DemoDeal("stark", "Stark Copenhagen", "lost", 45_000.0, "Mikko Laine", 10.0, "Net 30", (),
             None, demo_data.days(30), None, 5),
)  # fmt: skip
