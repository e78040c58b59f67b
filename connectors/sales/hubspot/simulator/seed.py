"""The simulated account's property definitions and its demo data (from ``sandbox.demo_data``).

The custom deal properties are the ones the demo mapping reads: ``special_discount`` (number),
``payment_terms`` (enumeration: Net 30/45/60), ``free_services`` (multi-checkbox),
``sla_promise``, ``special_instructions``, ``terms_valid_until`` (date), ``approved_by``,
``has_special_terms`` (bool); companies carry ``customer_number`` (the contact center's id).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from connectors.sales.hubspot.simulator.store import iso
from sandbox import demo_data

FREE_SERVICES = (
    "Onsite training", "Priority support", "Free migration", "Quarterly review", "Dedicated CSM",
)  # fmt: skip
DEAL_STAGES = (
    "appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
    "contractsent", "closedwon", "closedlost",
)  # fmt: skip
CREATED = "2024-01-15T09:30:00.000Z"


def _prop(
    name: str, label: str, kind: str, field: str, *, custom: bool = False,
    options: tuple[str, ...] = (), group: str = "dealinformation",
) -> dict[str, Any]:  # fmt: skip
    return {
        "name": name,
        "label": label,
        "type": kind,
        "fieldType": field,
        "description": "",
        "groupName": group,
        "options": [
            {"label": o, "value": o, "displayOrder": i, "hidden": False}
            for i, o in enumerate(options)
        ],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": name == "hs_object_id",
        "hidden": False,
        "hubspotDefined": not custom,
        "formField": custom,
        "dataSensitivity": "non_sensitive",
        "createdAt": CREATED,
        "updatedAt": CREATED,
        "archived": False,
        "modificationMetadata": {
            "archivable": custom,
            "readOnlyDefinition": not custom,
            "readOnlyValue": name in ("hs_object_id", "hs_lastmodifieddate", "createdate"),
        },
    }


def _bool_prop(name: str, label: str) -> dict[str, Any]:
    prop = _prop(name, label, "bool", "booleancheckbox", custom=True)
    prop["options"] = [
        {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
        {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
    ]
    return prop


def _common(group: str, modified: str = "hs_lastmodifieddate") -> list[dict[str, Any]]:
    return [
        _prop("hs_object_id", "Record ID", "number", "number", group=group),
        _prop("createdate", "Create Date", "datetime", "date", group=group),
        _prop(modified, "Last Modified Date", "datetime", "date", group=group),
    ]


def property_definitions() -> dict[str, list[dict[str, Any]]]:
    """What ``GET /crm/v3/properties/{type}`` lists for each object type."""
    deals = [
        *_common("dealinformation"),
        _prop("dealname", "Deal Name", "string", "text"),
        _prop("amount", "Amount", "number", "number"),
        _prop("closedate", "Close Date", "datetime", "date"),
        _prop("dealstage", "Deal Stage", "enumeration", "radio", options=DEAL_STAGES),
        _prop("pipeline", "Pipeline", "enumeration", "select", options=("default",)),
        _prop(
            "deal_currency_code",
            "Currency",
            "enumeration",
            "select",
            options=("EUR", "USD", "GBP", "AUD"),
        ),
        _prop("hubspot_owner_id", "Deal owner", "enumeration", "select"),
        _prop("description", "Deal Description", "string", "textarea"),
        _prop("special_discount", "Special discount (%)", "number", "number", custom=True),
        _prop(
            "payment_terms",
            "Payment terms",
            "enumeration",
            "select",
            custom=True,
            options=("Net 30", "Net 45", "Net 60"),
        ),
        _prop(
            "free_services",
            "Free services",
            "enumeration",
            "checkbox",
            custom=True,
            options=FREE_SERVICES,
        ),
        _prop("sla_promise", "SLA promise", "string", "text", custom=True),
        _prop("special_instructions", "Special instructions", "string", "textarea", custom=True),
        _prop("terms_valid_until", "Terms valid until", "date", "date", custom=True),
        _prop("approved_by", "Approved by", "string", "text", custom=True),
        _bool_prop("has_special_terms", "Has special terms"),
    ]
    companies = [
        *_common("companyinformation"),
        _prop("name", "Company name", "string", "text", group="companyinformation"),
        _prop("domain", "Company Domain Name", "string", "text", group="companyinformation"),
        _prop("industry", "Industry", "enumeration", "select", group="companyinformation"),
        _prop(
            "customer_number",
            "Customer number",
            "string",
            "text",
            custom=True,
            group="companyinformation",
        ),
    ]
    contacts = [
        *_common("contactinformation", modified="lastmodifieddate"),
        _prop("email", "Email", "string", "text", group="contactinformation"),
        _prop("firstname", "First Name", "string", "text", group="contactinformation"),
        _prop("lastname", "Last Name", "string", "text", group="contactinformation"),
        _prop("phone", "Phone Number", "string", "phonenumber", group="contactinformation"),
    ]
    return {"deals": deals, "companies": companies, "contacts": contacts}


def number(value: float) -> str:
    """A number as HubSpot writes it into a string property (no trailing ``.0``)."""
    return f"{value:f}".rstrip("0").rstrip(".")


def demo_deal_properties(deal: demo_data.DemoDeal, owner_id: str) -> dict[str, str | None]:
    """The HubSpot properties of one demo deal (all strings, as the API sends them)."""
    modified = demo_data.modified_at(deal)
    return {
        "dealname": deal.name,
        "dealstage": deal.stage,
        "pipeline": "default",
        "amount": number(deal.amount),
        "deal_currency_code": deal.currency,
        "closedate": iso(modified - timedelta(days=2)),
        "hubspot_owner_id": owner_id,
        "special_discount": number(deal.discount_percent) if deal.discount_percent else None,
        "payment_terms": deal.payment_terms,
        "free_services": ";".join(deal.free_services) or None,
        "sla_promise": deal.sla,
        "special_instructions": deal.instructions,
        "terms_valid_until": deal.valid_until.isoformat() if deal.valid_until else None,
        "approved_by": deal.approved_by,
        "has_special_terms": "true",
    }


def demo_company(deal: demo_data.DemoDeal) -> dict[str, str | None]:
    """The company a demo deal is associated with (its account, or the known customer)."""
    known = demo_data.customer(deal.customer_key)
    return {
        "name": deal.account_name or (known.name if known else deal.customer_key),
        "domain": deal.account_domain or (known.domain if known else None),
        "customer_number": known.external_id if known else None,
    }


def demo_contact(deal: demo_data.DemoDeal) -> dict[str, str | None] | None:
    """The customer's contact person, if the contact center knows the customer."""
    known = demo_data.customer(deal.customer_key)
    if known is None:
        return None
    first, _, last = known.contact_name.partition(" ")
    return {"email": known.contact_email, "firstname": first, "lastname": last or None}


def demo_id(deal: demo_data.DemoDeal) -> str:
    """HubSpot ids are numeric: ``hs-9001`` becomes ``9001``."""
    digits = "".join(ch for ch in deal.id if ch.isdigit())
    return digits or str(abs(hash(deal.id)) % 10**8)


def demo_modified(deal: demo_data.DemoDeal) -> datetime:
    """When the demo deal was last changed."""
    return demo_data.modified_at(deal)
