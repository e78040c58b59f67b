"""The simulated Service Cloud org's objects and their describes.

Account, Contact, Case and CaseComment with the fields a contact center's org typically has
(FACTS.md section 2), plus the custom fields the demo mapping writes. Person Accounts
(FACTS.md 2.2) are a switch: when enabled, Account gains ``IsPersonAccount``, ``PersonEmail``,
``PersonContactId``, ``FirstName`` and ``LastName``, and Contact gains ``IsPersonAccount``; when
not, those fields do not exist at all ("``IsPersonAccount`` exists only in orgs with Person
Accounts enabled").

Describe bodies follow FACTS.md 3.1 (restforce ``sobject_describe_success_response.json``):
``name``, ``label``, ``type``, ``length``, ``byteLength``, ``updateable``, ``createable``,
``nillable``, ``custom``, ``externalId``, ``idLookup``, ``filterable``, ``picklistValues``
(``value``, ``label``, ``active``, ``defaultValue``), ``restrictedPicklist`` and, for textareas,
``extraTypeInfo`` (``plaintextarea``/``richtextarea``). ``length`` counts characters (FACTS.md
3.2); ``byteLength`` is three bytes a character, as real describes report it.

The schema belongs to one simulator instance: tests add and drop fields to play an admin
editing the org between a describe and a write.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from connectors.salesforce_common.simulator.field_types import IDS, NUMBERS, TEXT, soap_type

__all__ = ["IDS", "NUMBERS", "TEXT"]

LONG_TEXT = 32_768
"""The demo's Long Text Area length (Setup offers 256..131,072; FACTS.md 2.3)."""


@dataclass(frozen=True)
class FieldSpec:
    """One field as describe reports it."""

    name: str
    type: str
    label: str
    length: int = 0
    custom: bool = False
    updateable: bool = True
    createable: bool | None = None
    """None: the same as ``updateable``."""
    filterable: bool = True
    nillable: bool = True
    external_id: bool = False
    picklist: tuple[str, ...] = ()
    inactive: tuple[str, ...] = ()
    """Picklist values kept on old records but no longer offered (``active: false``)."""
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    case_sensitive: bool = False
    """A unique case-sensitive text field: SOQL compares its values exactly."""

    @property
    def can_create(self) -> bool:
        """Whether the field may be set when a record is created."""
        return self.updateable if self.createable is None else self.createable

    @property
    def active_values(self) -> tuple[str, ...]:
        """Picklist values offered to users and accepted by a restricted picklist."""
        return tuple(v for v in self.picklist if v not in self.inactive)


@dataclass
class SObjectSpec:
    """An sObject: its fields by lower-case name (API names are case-insensitive)."""

    name: str
    label: str
    key_prefix: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)

    def add(self, *specs: FieldSpec) -> None:
        """Add (or replace) fields."""
        for spec in specs:
            self.fields[spec.name.lower()] = spec

    def get(self, name: str) -> FieldSpec | None:
        """The field called ``name`` (any case), if the object has it."""
        return self.fields.get(name.lower())


def _system(label: str) -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("Id", "id", f"{label} ID", length=18, updateable=False, nillable=False),
        FieldSpec("IsDeleted", "boolean", "Deleted", updateable=False, nillable=False),
        FieldSpec("CreatedDate", "datetime", "Created Date", updateable=False),
        FieldSpec("LastModifiedDate", "datetime", "Last Modified Date", updateable=False),
        FieldSpec("SystemModstamp", "datetime", "System Modstamp", updateable=False),
    )


def _long_text(name: str, label: str, length: int = LONG_TEXT, *, custom: bool = True) -> FieldSpec:
    return FieldSpec(name, "textarea", label, length=length, custom=custom, filterable=False)


PAYMENT_TERMS = ("Net 30", "Net 45", "Net 60")
SERVICE_TIERS = ("Gold", "Silver", "Bronze")
INDUSTRIES = ("Technology", "Healthcare", "Manufacturing", "Retail", "Other")
CASE_STATUSES = ("New", "Working", "Escalated", "Closed")
CASE_PRIORITIES = ("High", "Medium", "Low")
CASE_ORIGINS = ("Phone", "Email", "Web")


def account() -> SObjectSpec:
    """Account with the demo's custom fields."""
    spec = SObjectSpec("Account", "Account", "001")
    spec.add(
        *_system("Account"),
        FieldSpec("Name", "string", "Account Name", length=255, nillable=False),
        FieldSpec("Website", "url", "Website", length=255),
        FieldSpec("Phone", "phone", "Account Phone", length=40),
        FieldSpec("AccountNumber", "string", "Account Number", length=40),
        FieldSpec("Industry", "picklist", "Industry", length=255, picklist=INDUSTRIES),
        _long_text("Description", "Account Description", 32_000, custom=False),
        FieldSpec(
            "OwnerId", "reference", "Owner ID", length=18, nillable=False, reference_to=("User",)
        ),
        FieldSpec(
            "Customer_Number__c",
            "string",
            "Customer Number",
            length=40,
            custom=True,
            external_id=True,
        ),
        _long_text("Deal_Terms__c", "Deal Terms"),
        FieldSpec("Special_Discount__c", "percent", "Special Discount", custom=True),
        FieldSpec(
            "Payment_Terms__c",
            "picklist",
            "Payment Terms",
            length=255,
            custom=True,
            picklist=(*PAYMENT_TERMS, "Net 90"),
            inactive=("Net 90",),
            restricted=True,
        ),
        FieldSpec(
            "Service_Tier__c",
            "picklist",
            "Service Tier",
            length=255,
            custom=True,
            picklist=SERVICE_TIERS,
        ),
        FieldSpec("Terms_Valid_Until__c", "date", "Terms Valid Until", custom=True),
        FieldSpec("SLA_Promise__c", "string", "SLA Promise", length=255, custom=True),
        FieldSpec("Has_Special_Terms__c", "boolean", "Has Special Terms", custom=True),
        FieldSpec(
            "Account_Score__c",
            "double",
            "Account Score",
            custom=True,
            updateable=False,
            createable=False,
        ),
    )
    return spec


def person_account_fields() -> tuple[FieldSpec, ...]:
    """What enabling Person Accounts adds to Account (FACTS.md 2.2)."""
    return (
        FieldSpec("IsPersonAccount", "boolean", "Is Person Account", updateable=False),
        FieldSpec("PersonEmail", "email", "Email", length=80),
        FieldSpec(
            "PersonContactId",
            "reference",
            "Contact ID",
            length=18,
            updateable=False,
            reference_to=("Contact",),
        ),
        FieldSpec("FirstName", "string", "First Name", length=40),
        FieldSpec("LastName", "string", "Last Name", length=80),
    )


def contact() -> SObjectSpec:
    """Contact; the person contact of a person account is one of these."""
    spec = SObjectSpec("Contact", "Contact", "003")
    spec.add(
        *_system("Contact"),
        FieldSpec("AccountId", "reference", "Account ID", length=18, reference_to=("Account",)),
        FieldSpec("FirstName", "string", "First Name", length=40),
        FieldSpec("LastName", "string", "Last Name", length=80, nillable=False),
        FieldSpec("Name", "string", "Full Name", length=121, updateable=False),
        FieldSpec("Email", "email", "Email", length=80),
        FieldSpec("Phone", "phone", "Business Phone", length=40),
        _long_text("Description", "Contact Description", 32_000, custom=False),
        FieldSpec(
            "Contact_Number__c",
            "string",
            "Contact Number",
            length=40,
            custom=True,
            external_id=True,
        ),
        _long_text("Deal_Terms__c", "Deal Terms"),
        FieldSpec(
            "Preferred_Channel__c",
            "picklist",
            "Preferred Channel",
            length=255,
            custom=True,
            picklist=("Phone", "Email", "Chat"),
        ),
    )
    return spec


def case() -> SObjectSpec:
    """Case, with an external-id key field alerts can be upserted by."""
    spec = SObjectSpec("Case", "Case", "500")
    spec.add(
        *_system("Case"),
        FieldSpec("CaseNumber", "string", "Case Number", length=30, updateable=False),
        FieldSpec("Subject", "string", "Subject", length=255),
        _long_text("Description", "Description", 32_000, custom=False),
        FieldSpec(
            "Status",
            "picklist",
            "Status",
            length=40,
            picklist=CASE_STATUSES,
            restricted=True,
        ),
        FieldSpec("IsClosed", "boolean", "Closed", updateable=False),
        FieldSpec("Priority", "picklist", "Priority", length=40, picklist=CASE_PRIORITIES),
        FieldSpec("Origin", "picklist", "Case Origin", length=40, picklist=CASE_ORIGINS),
        FieldSpec("AccountId", "reference", "Account ID", length=18, reference_to=("Account",)),
        FieldSpec("ContactId", "reference", "Contact ID", length=18, reference_to=("Contact",)),
        FieldSpec("ParentId", "reference", "Parent Case ID", length=18, reference_to=("Case",)),
        FieldSpec("OwnerId", "reference", "Owner ID", length=18, reference_to=("Group", "User")),
        FieldSpec(
            "Dealbridge_Key__c",
            "string",
            "Dealbridge Alert Key",
            length=64,
            custom=True,
            external_id=True,
        ),
    )
    return spec


def case_comment() -> SObjectSpec:
    """CaseComment: ``CommentBody`` holds 4,000 bytes (FACTS.md 8.2)."""
    spec = SObjectSpec("CaseComment", "Case Comment", "00a")
    spec.add(
        *_system("Case Comment"),
        FieldSpec(
            "ParentId",
            "reference",
            "Parent ID",
            length=18,
            updateable=False,
            createable=True,
            nillable=False,
            reference_to=("Case",),
        ),
        FieldSpec("CommentBody", "textarea", "Body", length=4000, filterable=False),
        FieldSpec("IsPublished", "boolean", "Published"),
    )
    return spec


class Schema:
    """The org's objects (one instance per simulator)."""

    def __init__(self, *, person_accounts: bool) -> None:
        self.person_accounts = person_accounts
        self.objects = {s.name.lower(): s for s in (account(), contact(), case(), case_comment())}
        if person_accounts:
            self.objects["account"].add(*person_account_fields())
            self.objects["contact"].add(
                FieldSpec("IsPersonAccount", "boolean", "Is Person Account", updateable=False)
            )

    def get(self, sobject: str) -> SObjectSpec | None:
        """The object called ``sobject`` (any case)."""
        return self.objects.get(sobject.lower())

    def add_field(self, sobject: str, spec: FieldSpec) -> None:
        """An admin creates (or changes) a field."""
        self.objects[sobject.lower()].add(spec)

    def drop_field(self, sobject: str, name: str) -> None:
        """An admin deletes a field."""
        self.objects[sobject.lower()].fields.pop(name.lower(), None)

    def restrict(self, sobject: str, name: str, *, restricted: bool) -> None:
        """Turn a picklist's "restrict to the values defined" setting on or off."""
        found = self.objects[sobject.lower()].get(name)
        assert found is not None, f"{sobject}.{name} does not exist"
        self.add_field(sobject, replace(found, restricted=restricted))


def describe(spec: SObjectSpec, version: str) -> dict[str, Any]:
    """``GET /services/data/{version}/sobjects/{name}/describe``."""
    base = f"/services/data/{version}/sobjects/{spec.name}"
    return {
        "name": spec.name,
        "label": spec.label,
        "labelPlural": f"{spec.label}s",
        "keyPrefix": spec.key_prefix,
        "custom": False,
        "createable": True,
        "updateable": True,
        "queryable": True,
        "retrieveable": True,
        "fields": [_describe_field(f) for f in spec.fields.values()],
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }


def _describe_field(spec: FieldSpec) -> dict[str, Any]:
    picklist = spec.type in ("picklist", "multipicklist")
    return {
        "name": spec.name,
        "label": spec.label,
        "type": spec.type,
        "length": spec.length,
        "byteLength": spec.length * 3,
        "precision": 18 if spec.type in NUMBERS else 0,
        "scale": 2 if spec.type in NUMBERS else 0,
        "updateable": spec.updateable,
        "createable": spec.can_create,
        "nillable": spec.nillable,
        "custom": spec.custom,
        "externalId": spec.external_id,
        "idLookup": spec.name == "Id" or spec.external_id,
        "filterable": spec.filterable,
        "sortable": spec.filterable,
        "caseSensitive": spec.case_sensitive,
        "calculated": False,
        "restrictedPicklist": picklist and spec.restricted,
        "extraTypeInfo": "plaintextarea" if spec.type == "textarea" else None,
        "picklistValues": [
            {"active": v not in spec.inactive, "defaultValue": False, "label": v, "value": v}
            for v in spec.picklist
        ],
        "referenceTo": list(spec.reference_to),
        "relationshipName": spec.name.removesuffix("Id") if spec.type == "reference" else None,
        "soapType": soap_type(spec.type),
    }
