"""The simulated org's schema: five sObjects, their fields and relationships, and describes.

Field names, types and describe keys follow the REST describe shape (restforce
``sobject_describe_success_response.json``): ``fields[]`` with ``name``, ``type``, ``label``,
``custom``, ``length``, ``picklistValues``, ``referenceTo``, ``relationshipName``, ``filterable``;
``childRelationships[]`` with ``relationshipName``, ``childSObject``, ``field``. The custom fields
are the demo's deal terms (``Special_Discount__c``...) and ``Account.Customer_Number__c``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.salesforce_common.simulator.field_types import IDS, NUMBERS, TEXT, soap_type

__all__ = ["IDS", "NUMBERS", "TEXT"]


@dataclass(frozen=True)
class FieldSpec:
    """One field of an sObject."""

    name: str
    type: str
    label: str
    custom: bool = False
    length: int = 0
    picklist: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    relationship: str | None = None
    filterable: bool = True
    updateable: bool = True
    external_id: bool = False


@dataclass(frozen=True)
class ChildSpec:
    """A parent-to-child relationship (``OpportunityContactRoles``)."""

    relationship: str
    child: str
    field: str


@dataclass(frozen=True)
class ObjectSpec:
    """An sObject: fields by lower-case name, parents by lower-case relationship name."""

    name: str
    label: str
    key_prefix: str
    fields: tuple[FieldSpec, ...]
    children: tuple[ChildSpec, ...] = ()
    by_name: dict[str, FieldSpec] = field(default_factory=dict, compare=False)
    parents: dict[str, FieldSpec] = field(default_factory=dict, compare=False)
    child_by_name: dict[str, ChildSpec] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        self.by_name.update({f.name.lower(): f for f in self.fields})
        self.parents.update({f.relationship.lower(): f for f in self.fields if f.relationship})
        self.child_by_name.update({c.relationship.lower(): c for c in self.children})


def _system(prefix: str) -> tuple[FieldSpec, ...]:
    """Fields every object has: Id, IsDeleted, audit stamps."""
    return (
        FieldSpec("Id", "id", f"{prefix} ID", length=18, updateable=False),
        FieldSpec("IsDeleted", "boolean", "Deleted", updateable=False),
        FieldSpec("CreatedDate", "datetime", "Created Date", updateable=False),
        FieldSpec("LastModifiedDate", "datetime", "Last Modified Date", updateable=False),
        FieldSpec("SystemModstamp", "datetime", "System Modstamp", updateable=False),
    )


def _ref(name: str, target: str, relationship: str, label: str) -> FieldSpec:
    return FieldSpec(
        name, "reference", label, length=18, reference_to=(target,), relationship=relationship
    )


STAGES = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Negotiation",
    "Proposal/Price Quote",
    "Closed Won",
    "Closed Lost",
)
PAYMENT_TERMS = ("Net 30", "Net 45", "Net 60")
FREE_SERVICES = (
    "Onsite training",
    "Priority support",
    "Free migration",
    "Quarterly review",
    "Dedicated CSM",
)
CURRENCIES = ("USD", "EUR", "GBP", "AUD")
ROLES = (
    "Business User",
    "Decision Maker",
    "Economic Buyer",
    "Economic Decision Maker",
    "Evaluator",
    "Executive Sponsor",
    "Influencer",
    "Technical Buyer",
    "Other",
)

OPPORTUNITY = ObjectSpec(
    "Opportunity",
    "Opportunity",
    "006",
    (
        *_system("Opportunity"),
        _ref("AccountId", "Account", "Account", "Account ID"),
        _ref("OwnerId", "User", "Owner", "Owner ID"),
        FieldSpec("Name", "string", "Name", length=120),
        FieldSpec("Description", "textarea", "Description", length=32000, filterable=False),
        FieldSpec("StageName", "picklist", "Stage", length=255, picklist=STAGES),
        FieldSpec("Amount", "currency", "Amount"),
        FieldSpec("Probability", "percent", "Probability (%)"),
        FieldSpec("CloseDate", "date", "Close Date"),
        FieldSpec(
            "CurrencyIsoCode", "picklist", "Opportunity Currency", length=3, picklist=CURRENCIES
        ),
        FieldSpec("IsClosed", "boolean", "Closed", updateable=False),
        FieldSpec("IsWon", "boolean", "Won", updateable=False),
        FieldSpec("Special_Discount__c", "percent", "Special Discount", custom=True),
        FieldSpec(
            "Payment_Terms__c",
            "picklist",
            "Payment Terms",
            custom=True,
            length=255,
            picklist=PAYMENT_TERMS,
        ),
        FieldSpec(
            "Free_Services__c",
            "multipicklist",
            "Free Services",
            custom=True,
            length=4099,
            picklist=FREE_SERVICES,
        ),
        FieldSpec("SLA_Promise__c", "string", "SLA Promise", custom=True, length=255),
        FieldSpec(
            "Special_Instructions__c",
            "textarea",
            "Special Instructions",
            custom=True,
            length=32768,
            filterable=False,
        ),
        FieldSpec("Terms_Valid_Until__c", "date", "Terms Valid Until", custom=True),
        FieldSpec("Approved_By__c", "string", "Approved By", custom=True, length=80),
        FieldSpec("Has_Special_Terms__c", "boolean", "Has Special Terms", custom=True),
    ),
    children=(ChildSpec("OpportunityContactRoles", "OpportunityContactRole", "OpportunityId"),),
)

ACCOUNT = ObjectSpec(
    "Account",
    "Account",
    "001",
    (
        *_system("Account"),
        _ref("OwnerId", "User", "Owner", "Owner ID"),
        FieldSpec("Name", "string", "Account Name", length=255),
        FieldSpec("Website", "url", "Website", length=255),
        FieldSpec("Phone", "phone", "Account Phone", length=40),
        FieldSpec(
            "Industry",
            "picklist",
            "Industry",
            length=255,
            picklist=("Technology", "Healthcare", "Manufacturing", "Retail", "Other"),
        ),
        FieldSpec(
            "Customer_Number__c",
            "string",
            "Customer Number",
            custom=True,
            length=40,
            external_id=True,
        ),
    ),
    children=(
        ChildSpec("Opportunities", "Opportunity", "AccountId"),
        ChildSpec("Contacts", "Contact", "AccountId"),
    ),
)

USER = ObjectSpec(
    "User",
    "User",
    "005",
    (
        *_system("User"),
        FieldSpec("Username", "string", "Username", length=80),
        FieldSpec("Name", "string", "Full Name", length=121, updateable=False),
        FieldSpec("FirstName", "string", "First Name", length=40),
        FieldSpec("LastName", "string", "Last Name", length=80),
        FieldSpec("Email", "email", "Email", length=128),
        FieldSpec("Title", "string", "Title", length=80),
        FieldSpec("IsActive", "boolean", "Active"),
    ),
)

CONTACT = ObjectSpec(
    "Contact",
    "Contact",
    "003",
    (
        *_system("Contact"),
        _ref("AccountId", "Account", "Account", "Account ID"),
        FieldSpec("FirstName", "string", "First Name", length=40),
        FieldSpec("LastName", "string", "Last Name", length=80),
        FieldSpec("Name", "string", "Full Name", length=121, updateable=False),
        FieldSpec("Email", "email", "Email", length=80),
        FieldSpec("Phone", "phone", "Business Phone", length=40),
        FieldSpec("Title", "string", "Title", length=128),
    ),
    children=(ChildSpec("OpportunityContactRoles", "OpportunityContactRole", "ContactId"),),
)

CONTACT_ROLE = ObjectSpec(
    "OpportunityContactRole",
    "Opportunity Contact Role",
    "00K",
    (
        *_system("Contact Role"),
        _ref("OpportunityId", "Opportunity", "Opportunity", "Opportunity ID"),
        _ref("ContactId", "Contact", "Contact", "Contact ID"),
        FieldSpec("Role", "picklist", "Role", length=40, picklist=ROLES),
        FieldSpec("IsPrimary", "boolean", "Primary"),
    ),
)

OBJECTS: dict[str, ObjectSpec] = {
    spec.name.lower(): spec for spec in (OPPORTUNITY, ACCOUNT, USER, CONTACT, CONTACT_ROLE)
}


def lookup(name: str) -> ObjectSpec | None:
    """The sObject called ``name`` (API names are case-insensitive)."""
    return OBJECTS.get(name.lower())


def describe(spec: ObjectSpec, version: str) -> dict[str, Any]:
    """The describe body for ``GET /services/data/{version}/sobjects/{name}/describe``."""
    base = f"/services/data/{version}/sobjects/{spec.name}"
    return {
        "name": spec.name,
        "label": spec.label,
        "labelPlural": f"{spec.label}s",
        "keyPrefix": spec.key_prefix,
        "custom": False,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "undeletable": True,
        "replicateable": True,
        "triggerable": True,
        "fields": [_describe_field(f) for f in spec.fields],
        "childRelationships": [
            {
                "cascadeDelete": True,
                "childSObject": c.child,
                "deprecatedAndHidden": False,
                "field": c.field,
                "relationshipName": c.relationship,
                "restrictedDelete": False,
            }
            for c in spec.children
        ],
        "recordTypeInfos": [],
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }


def _describe_field(spec: FieldSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "type": spec.type,
        "label": spec.label,
        "custom": spec.custom,
        "length": spec.length,
        "byteLength": spec.length * 3,
        "precision": 18 if spec.type in NUMBERS else 0,
        "scale": 2 if spec.type in NUMBERS else 0,
        "digits": 0,
        "nillable": spec.name not in ("Id", "IsDeleted"),
        "updateable": spec.updateable,
        "createable": spec.updateable,
        "filterable": spec.filterable,
        "sortable": spec.filterable,
        "groupable": spec.filterable and spec.type not in NUMBERS,
        "unique": False,
        "externalId": spec.external_id,
        "idLookup": spec.name == "Id" or spec.external_id,
        "calculated": False,
        "caseSensitive": False,
        "autoNumber": False,
        "htmlFormatted": False,
        "nameField": spec.name == "Name",
        "namePointing": False,
        "dependentPicklist": False,
        "restrictedPicklist": spec.type == "picklist",
        "deprecatedAndHidden": False,
        "defaultValue": None,
        "defaultedOnCreate": spec.name in ("Id", "IsDeleted", "OwnerId"),
        "inlineHelpText": None,
        "controllerName": None,
        "calculatedFormula": None,
        "soapType": soap_type(spec.type),
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
            for v in spec.picklist
        ],
        "referenceTo": list(spec.reference_to),
        "relationshipName": spec.relationship,
        "relationshipOrder": None,
        "writeRequiresMasterRead": False,
        "cascadeDelete": False,
    }
