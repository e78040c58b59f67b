"""The property definitions the HubSpot fake serves and types its search by.

Deal properties are HubSpot's defaults plus the custom ones the EMEA mapping reads
(``mappings/emea-hubspot.yaml``); companies and contacts carry what identity matching needs.

* ``GET /crm/v3/properties/{objectType}``: ``name, label, type, fieldType, options[{label, value,
  displayOrder, hidden}], hubspotDefined, ...``; multi-select is ``enumeration``/``checkbox``
  (sales-apis.md s.2; fixtures/properties_*.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PropertyDef:
    name: str
    type: str
    field_type: str
    label: str = ""
    options: tuple[tuple[str, str], ...] = ()
    """(value, label) pairs."""
    hubspot_defined: bool = True

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "fieldType": self.field_type,
            "description": "",
            "groupName": "dealinformation",
            "options": [
                {"label": label, "value": value, "displayOrder": i, "hidden": False}
                for i, (value, label) in enumerate(self.options)
            ],
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.name == "hs_object_id",
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.hubspot_defined,
            "archived": False,
        }


def _opts(*values: str) -> tuple[tuple[str, str], ...]:
    return tuple((v, v) for v in values)


def _common(last_modified: str) -> tuple[PropertyDef, ...]:
    return (
        PropertyDef("hs_object_id", "number", "number", "Record ID"),
        PropertyDef("createdate", "datetime", "date", "Create Date"),
        PropertyDef(last_modified, "datetime", "date", "Last Modified Date"),
    )


PROPERTIES: dict[str, tuple[PropertyDef, ...]] = {
    "deals": (
        *_common("hs_lastmodifieddate"),
        PropertyDef("dealname", "string", "text", "Deal Name"),
        PropertyDef("amount", "number", "number", "Amount"),
        PropertyDef("closedate", "datetime", "date", "Close Date"),
        PropertyDef("pipeline", "enumeration", "select", "Pipeline", _opts("default")),
        PropertyDef(
            "dealstage",
            "enumeration",
            "radio",
            "Deal Stage",
            (("closedwon", "Closed Won"), ("closedlost", "Closed Lost")),
        ),
        PropertyDef("hubspot_owner_id", "enumeration", "select", "Deal owner"),
        PropertyDef(
            "deal_currency_code", "enumeration", "select", "Currency", _opts("EUR", "GBP", "USD")
        ),
        PropertyDef("special_discount", "number", "number", "Special discount", (), False),
        PropertyDef(
            "payment_terms",
            "enumeration",
            "select",
            "Payment terms",
            _opts("Net 30", "Net 45", "Net 60"),
            False,
        ),
        PropertyDef(
            "free_services",
            "enumeration",
            "checkbox",
            "Free services",
            _opts("Onsite training", "Priority support", "Quarterly review"),
            False,
        ),
        PropertyDef("sla_promise", "string", "text", "SLA promise", (), False),
        PropertyDef("special_instructions", "string", "textarea", "Instructions", (), False),
        PropertyDef("terms_valid_until", "date", "date", "Terms valid until", (), False),
        PropertyDef("approved_by", "string", "text", "Approved by", (), False),
        PropertyDef("has_special_terms", "bool", "booleancheckbox", "Special terms", (), False),
    ),
    "companies": (
        *_common("hs_lastmodifieddate"),
        PropertyDef("name", "string", "text", "Company name"),
        PropertyDef("domain", "string", "text", "Company Domain Name"),
        PropertyDef("customer_number", "string", "text", "Customer number", (), False),
    ),
    "contacts": (
        *_common("lastmodifieddate"),
        PropertyDef("email", "string", "text", "Email"),
        PropertyDef("firstname", "string", "text", "First Name"),
        PropertyDef("lastname", "string", "text", "Last Name"),
    ),
}


def property_types(object_type: str) -> dict[str, str]:
    """Property name to HubSpot type, as search compares values."""
    return {p.name: p.type for p in PROPERTIES[object_type]}
