"""The sObjects the Salesforce fake holds, as describe reports them.

Field names follow the standard objects (Opportunity, Account, User, Contact,
OpportunityContactRole) and the custom fields the West mapping reads
(``mappings/west-salesforce.yaml``). Describe's shape (``fields[].name/type/label/custom/length/
picklistValues/referenceTo/relationshipName``, ``childRelationships[].childSObject/field/
relationshipName``) follows the describe payloads in shared/vendor-apis/fixtures/salesforce/
sobject_describe_success_response.json (restforce, MIT) and sales-apis.md section 1.
System fields (Id, IsDeleted, CreatedDate, LastModifiedDate, SystemModstamp) are on every object
(SOAP API guide, "System Fields", https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/
system_fields.htm).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    label: str = ""
    custom: bool = False
    length: int = 0
    picklist: tuple[str, ...] = ()
    reference_to: str | None = None
    relationship_name: str | None = None
    updateable: bool = True

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label or self.name,
            "custom": self.custom,
            "length": self.length,
            "nillable": self.name not in {"Id", "IsDeleted"},
            "updateable": self.updateable,
            "createable": self.updateable,
            "calculated": False,
            "filterable": True,
            "sortable": self.type not in {"textarea", "multipicklist"},
            "picklistValues": [
                {"value": v, "label": v, "active": True, "defaultValue": False, "validFor": None}
                for v in self.picklist
            ],
            "referenceTo": [self.reference_to] if self.reference_to else [],
            "relationshipName": self.relationship_name,
        }


@dataclass(frozen=True)
class ChildRelationship:
    child_object: str
    field: str
    relationship_name: str


@dataclass(frozen=True)
class ObjectDef:
    name: str
    key_prefix: str
    fields: tuple[FieldDef, ...]
    children: tuple[ChildRelationship, ...] = ()

    def field(self, name: str) -> FieldDef | None:
        lowered = name.lower()
        return next((f for f in self.fields if f.name.lower() == lowered), None)

    def parent(self, relationship: str) -> FieldDef | None:
        lowered = relationship.lower()
        return next(
            (
                f
                for f in self.fields
                if f.relationship_name and f.relationship_name.lower() == lowered
            ),
            None,
        )

    def child(self, relationship: str) -> ChildRelationship | None:
        lowered = relationship.lower()
        return next((c for c in self.children if c.relationship_name.lower() == lowered), None)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.name,
            "custom": False,
            "keyPrefix": self.key_prefix,
            "queryable": True,
            "fields": [f.describe() for f in self.fields],
            "childRelationships": [
                {
                    "childSObject": c.child_object,
                    "field": c.field,
                    "relationshipName": c.relationship_name,
                    "cascadeDelete": False,
                    "deprecatedAndHidden": False,
                }
                for c in self.children
            ],
        }


def _ref(name: str, label: str, target: str, relationship: str) -> FieldDef:
    return FieldDef(
        name, "reference", label, length=18, reference_to=target, relationship_name=relationship
    )


def _system(extra: tuple[FieldDef, ...]) -> tuple[FieldDef, ...]:
    return (
        FieldDef("Id", "id", "Record ID", length=18, updateable=False),
        FieldDef("IsDeleted", "boolean", "Deleted", updateable=False),
        FieldDef("CreatedDate", "datetime", "Created Date", updateable=False),
        FieldDef("LastModifiedDate", "datetime", "Last Modified Date", updateable=False),
        FieldDef("SystemModstamp", "datetime", "System Modstamp", updateable=False),
        *extra,
    )


STAGES = ("Prospecting", "Negotiation/Review", "Closed Won", "Closed Lost")
PAYMENT_TERMS = ("Net 30", "Net 45", "Net 60")
FREE_SERVICES = ("Onsite training", "Priority support", "Quarterly review")
CURRENCIES = ("USD", "EUR", "GBP")

OBJECTS: dict[str, ObjectDef] = {
    o.name: o
    for o in (
        ObjectDef(
            "Opportunity",
            "006",
            _system(
                (
                    FieldDef("Name", "string", "Name", length=120),
                    FieldDef("StageName", "picklist", "Stage", length=255, picklist=STAGES),
                    FieldDef("CloseDate", "date", "Close Date"),
                    FieldDef("Amount", "currency", "Amount"),
                    FieldDef("CurrencyIsoCode", "picklist", "Currency", picklist=CURRENCIES),
                    _ref("AccountId", "Account ID", "Account", "Account"),
                    _ref("OwnerId", "Owner ID", "User", "Owner"),
                    FieldDef("Has_Special_Terms__c", "boolean", "Has special terms", custom=True),
                    FieldDef("Special_Discount__c", "percent", "Special discount", custom=True),
                    FieldDef(
                        "Payment_Terms__c",
                        "picklist",
                        "Payment terms",
                        custom=True,
                        picklist=PAYMENT_TERMS,
                    ),
                    FieldDef(
                        "Free_Services__c",
                        "multipicklist",
                        "Free services",
                        custom=True,
                        length=4099,
                        picklist=FREE_SERVICES,
                    ),
                    FieldDef("SLA_Promise__c", "string", "SLA promise", custom=True, length=255),
                    FieldDef(
                        "Special_Instructions__c",
                        "textarea",
                        "Special instructions",
                        custom=True,
                        length=32768,
                    ),
                    FieldDef("Terms_Valid_Until__c", "date", "Terms valid until", custom=True),
                    FieldDef("Approved_By__c", "string", "Approved by", custom=True, length=80),
                )
            ),
            (
                ChildRelationship(
                    "OpportunityContactRole", "OpportunityId", "OpportunityContactRoles"
                ),
            ),
        ),
        ObjectDef(
            "Account",
            "001",
            _system(
                (
                    FieldDef("Name", "string", "Account Name", length=255),
                    FieldDef("Website", "url", "Website", length=255),
                    FieldDef(
                        "Customer_Number__c", "string", "Customer number", custom=True, length=40
                    ),
                )
            ),
            (ChildRelationship("Opportunity", "AccountId", "Opportunities"),),
        ),
        ObjectDef(
            "User",
            "005",
            _system(
                (
                    FieldDef("Name", "string", "Full Name", length=121),
                    FieldDef("Email", "email", "Email", length=128),
                )
            ),
        ),
        ObjectDef(
            "Contact",
            "003",
            _system(
                (
                    FieldDef("Name", "string", "Full Name", length=121),
                    FieldDef("Email", "email", "Email", length=80),
                    _ref("AccountId", "Account ID", "Account", "Account"),
                )
            ),
        ),
        ObjectDef(
            "OpportunityContactRole",
            "00K",
            _system(
                (
                    _ref("OpportunityId", "Opportunity ID", "Opportunity", "Opportunity"),
                    _ref("ContactId", "Contact ID", "Contact", "Contact"),
                    FieldDef("Role", "picklist", "Role", picklist=("Decision Maker", "Other")),
                    FieldDef("IsPrimary", "boolean", "Primary"),
                )
            ),
        ),
    )
}
