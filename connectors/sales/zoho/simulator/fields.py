"""Fields metadata of the simulated org, in the shape of ``GET /settings/fields`` (FACTS.md §6.1).

Standard Deals, Accounts and Contacts fields plus the custom fields a territory keeps its deal
terms in. Picklist options carry ``actual_value`` (what records hold) and ``display_value``
(the label people see), used and unused (§6.1, §6.3); the payment terms' labels differ from
their values on purpose, as after an admin relabels an option.
"""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count(1)

FieldDef = dict[str, Any]


def _field(  # noqa: PLR0913 - one keyword per metadata key
    api_name: str,
    data_type: str,
    label: str,
    *,
    custom: bool = False,
    length: int | None = None,
    lookup: str | None = None,
    options: list[tuple[str, str]] | None = None,
    unused: list[str] | None = None,
) -> FieldDef:
    field: FieldDef = {
        "api_name": api_name,
        "field_label": label,
        "display_label": label,
        "data_type": data_type,
        "json_type": _json_type(data_type),
        "custom_field": custom,
        "id": f"5725767000000{next(_ids):06d}",
        "visible": True,
        "length": length or (255 if data_type in ("text", "picklist", "email") else 0),
        "lookup": {},
        "pick_list_values": [],
    }
    if lookup:
        field["lookup"] = {"module": {"api_name": lookup, "id": f"5725767000000{next(_ids):06d}"}}
    if options is not None:
        values = [(actual, display, "used") for actual, display in options]
        values += [(actual, actual, "unused") for actual in unused or []]
        field["pick_list_values"] = [
            {
                "display_value": display,
                "actual_value": actual,
                "reference_value": display,
                "id": f"5725767000000{next(_ids):06d}",
                "sequence_number": position + 1,
                "type": kind,
                "colour_code": None,
            }
            for position, (actual, display, kind) in enumerate(values)
        ]
    return field


def _json_type(data_type: str) -> str:
    return {
        "lookup": "jsonobject",
        "ownerlookup": "jsonobject",
        "multiselectpicklist": "jsonarray",
        "integer": "integer",
        "currency": "double",
        "double": "double",
        "boolean": "boolean",
    }.get(data_type, "string")


def _same(*values: str) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


STAGES = (
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)
PAYMENT_TERMS = (("Net 30", "Net 30 days"), ("Net 45", "Net 45 days"), ("Net 60", "Net 60 days"))
FREE_SERVICES = ("Onsite training", "Priority support", "Free migration", "Quarterly review")


def deals_fields() -> list[FieldDef]:
    """The Deals module: standard fields, lookups, and the territory's custom term fields."""
    return [
        _field("Owner", "ownerlookup", "Deal Owner", lookup="users"),
        _field("Deal_Name", "text", "Deal Name", length=120),
        _field("Amount", "currency", "Amount"),
        _field("Currency", "picklist", "Currency", options=_same("USD", "EUR", "BRL", "MXN")),
        _field("Closing_Date", "date", "Closing Date"),
        _field("Stage", "picklist", "Stage", options=_same(*STAGES)),
        _field("Account_Name", "lookup", "Account Name", lookup="Accounts"),
        _field("Contact_Name", "lookup", "Contact Name", lookup="Contacts"),
        _field(
            "Type", "picklist", "Type", options=_same("-None-", "Existing Business", "New Business")
        ),
        _field("Probability", "integer", "Probability (%)"),
        _field("Description", "textarea", "Description", length=32000),
        _field("Created_Time", "datetime", "Created Time"),
        _field("Modified_Time", "datetime", "Modified Time"),
        _field("Special_Discount", "double", "Special Discount (%)", custom=True),
        _field(
            "Payment_Terms",
            "picklist",
            "Payment Terms",
            custom=True,
            options=list(PAYMENT_TERMS),
            unused=["Net 15"],
        ),
        _field(
            "Free_Services",
            "multiselectpicklist",
            "Free Services",
            custom=True,
            options=_same(*FREE_SERVICES),
        ),
        _field("SLA_Promise", "text", "SLA Promise", custom=True),
        _field("Special_Instructions", "textarea", "Special Instructions", custom=True),
        _field("Terms_Valid_Until", "date", "Terms Valid Until", custom=True),
        _field("Approved_By", "text", "Approved By", custom=True),
        _field("Has_Special_Terms", "boolean", "Has Special Terms", custom=True),
        _field("Record_Image", "profileimage", "Deal Image"),
    ]


def accounts_fields() -> list[FieldDef]:
    """The Accounts module: name, website, phone, and the contact center's customer number."""
    return [
        _field("Owner", "ownerlookup", "Account Owner", lookup="users"),
        _field("Account_Name", "text", "Account Name", length=200),
        _field("Website", "website", "Website"),
        _field("Phone", "phone", "Phone"),
        _field("Industry", "picklist", "Industry", options=_same("-None-", "Retail", "Health")),
        _field("Customer_Number", "text", "Customer Number", custom=True),
        _field("Modified_Time", "datetime", "Modified Time"),
    ]


def contacts_fields() -> list[FieldDef]:
    """The Contacts module: names, email, and the contact's account."""
    return [
        _field("Owner", "ownerlookup", "Contact Owner", lookup="users"),
        _field("First_Name", "text", "First Name"),
        _field("Last_Name", "text", "Last Name"),
        _field("Full_Name", "text", "Full Name"),
        _field("Email", "email", "Email"),
        _field("Account_Name", "lookup", "Account Name", lookup="Accounts"),
        _field("Modified_Time", "datetime", "Modified Time"),
    ]


def all_modules() -> dict[str, list[FieldDef]]:
    """Module API name -> its fields metadata."""
    return {
        "Deals": deals_fields(),
        "Accounts": accounts_fields(),
        "Contacts": contacts_fields(),
    }
