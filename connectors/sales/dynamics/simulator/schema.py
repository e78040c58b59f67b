"""The simulated environment's tables: columns, types, choices and navigation properties.

Modelled on FACTS.md §1.5 (entity sets and keys), §3.2 (lookups as ``_<name>_value``, the
``parentaccountid``/``parentcontactid`` navigation properties), §3.4 (custom columns with the
publisher prefix ``new_``) and §7 (attribute types, choices with local and global option sets).
Companion columns (``parentaccountidname``: ``AttributeOf`` set) and unreadable columns are
listed by the metadata API but cannot be selected, as in Dataverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

LOOKUP_KINDS = frozenset({"Lookup", "Customer", "Owner"})
CHOICE_KINDS = frozenset({"Picklist", "State", "Status"})
MULTI = "MultiSelectPicklistType"


@dataclass(frozen=True)
class Option:
    """One choice value; ``label`` None models an option whose label is missing."""

    value: int
    label: str | None


@dataclass(frozen=True)
class OptionSet:
    """The options of a choice column (``is_global``: a global choice shared by name)."""

    name: str
    options: tuple[Option, ...]
    is_global: bool = False

    def label(self, value: int) -> str | None:
        """The label of ``value`` (None when unknown or unlabelled)."""
        return next((o.label for o in self.options if o.value == value), None)


@dataclass(frozen=True)
class ColumnDef:
    """One column (attribute) of a table."""

    name: str
    kind: str
    """``AttributeType``: String, Memo, Integer, Decimal, Money, Boolean, DateTime, Picklist,
    State, Status, Lookup, Owner, Customer, Uniqueidentifier, or Virtual (multi-select)."""
    label: str
    custom: bool = False
    target: str | None = None
    options: OptionSet | None = None
    date_only: bool = False
    attribute_of: str | None = None
    readable: bool = True
    type_name: str | None = None

    @property
    def field(self) -> str:
        """The name in ``$select``, ``$filter`` and rows (``_<name>_value`` for lookups)."""
        return f"_{self.name}_value" if self.kind in LOOKUP_KINDS else self.name

    @property
    def selectable(self) -> bool:
        """Whether a query may name it (companions and unreadable columns may not)."""
        return self.readable and self.attribute_of is None

    @property
    def is_choice(self) -> bool:
        """Choice columns: single, state, status and multi-select."""
        return self.kind in CHOICE_KINDS or self.type_name == MULTI


@dataclass
class TableDef:
    """A table: its entity set, key, columns and single-valued navigation properties."""

    logical: str
    entity_set: str
    key: str
    primary_name: str
    columns: dict[str, ColumnDef]
    navigations: dict[str, str] = field(default_factory=dict)
    """Navigation property -> the lookup column (logical name) it follows."""
    change_tracking: bool = True

    def by_field(self, name: str) -> ColumnDef | None:
        """The selectable column a query names (as ``$select`` writes it)."""
        for column in self.columns.values():
            if column.field == name and column.selectable:
                return column
        return None

    def rename(self, old: str, new: str) -> None:
        """An admin renamed a column (custom columns only, as in Dynamics)."""
        column = self.columns.pop(old)
        self.columns[new] = replace(column, name=new)


PAYMENT_TERMS = OptionSet(
    "new_opportunity_new_paymentterms",
    (Option(100000000, "Net 30"), Option(100000001, "Net 45"), Option(100000002, "Net 60")),
)
FREE_SERVICES = OptionSet(
    "new_opportunity_new_freeservices",
    (
        Option(100000000, "Onsite training"),
        Option(100000001, "Priority support"),
        Option(100000002, "Free migration"),
        Option(100000003, "Quarterly review"),
    ),
)
SALES_REGION = OptionSet(
    "new_salesregion",
    (Option(1, "North"), Option(2, "South"), Option(3, "Central")),
    is_global=True,
)
OPPORTUNITY_STATE = OptionSet(
    "opportunity_statecode", (Option(0, "Open"), Option(1, "Won"), Option(2, "Lost"))
)
OPPORTUNITY_STATUS = OptionSet(
    "opportunity_statuscode",
    (
        Option(1, "In Progress"),
        Option(2, "On Hold"),
        Option(3, "Won"),
        Option(4, "Canceled"),
        Option(5, "Out-Sold"),
    ),
)
SALES_STAGE = OptionSet(
    "opportunity_salesstage",
    (Option(0, "Qualify"), Option(1, "Develop"), Option(2, "Propose"), Option(3, "Close")),
)
INDUSTRY = OptionSet(
    "account_industrycode",
    (
        Option(1, "Accounting"),
        Option(7, "Consulting"),
        Option(19, "Financial"),
        Option(33, "Retail"),
    ),
)
ACTIVE_STATE = OptionSet("statecode", (Option(0, "Active"), Option(1, "Inactive")))


def _columns(*defs: ColumnDef) -> dict[str, ColumnDef]:
    return {d.name: d for d in defs}


def _common(key: str, label: str) -> tuple[ColumnDef, ...]:
    return (
        ColumnDef(key, "Uniqueidentifier", label),
        ColumnDef("createdon", "DateTime", "Created On"),
        ColumnDef("modifiedon", "DateTime", "Modified On"),
        ColumnDef("versionnumber", "BigInt", "Version Number"),
    )


def opportunity() -> TableDef:
    """The deals table with its standard and custom (``new_``) columns."""
    return TableDef(
        logical="opportunity",
        entity_set="opportunities",
        key="opportunityid",
        primary_name="name",
        columns=_columns(
            *_common("opportunityid", "Opportunity"),
            ColumnDef("name", "String", "Topic"),
            ColumnDef("description", "Memo", "Description"),
            ColumnDef("estimatedvalue", "Money", "Est. Revenue"),
            ColumnDef("actualvalue", "Money", "Actual Revenue"),
            ColumnDef("estimatedclosedate", "DateTime", "Est. Close Date", date_only=True),
            ColumnDef("actualclosedate", "DateTime", "Actual Close Date", date_only=True),
            ColumnDef("statecode", "State", "Status", options=OPPORTUNITY_STATE),
            ColumnDef("statuscode", "Status", "Status Reason", options=OPPORTUNITY_STATUS),
            ColumnDef("salesstage", "Picklist", "Sales Stage", options=SALES_STAGE),
            ColumnDef("parentaccountid", "Lookup", "Account", target="account"),
            ColumnDef("parentcontactid", "Lookup", "Contact", target="contact"),
            ColumnDef("ownerid", "Owner", "Owner", target="systemuser"),
            ColumnDef("transactioncurrencyid", "Lookup", "Currency", target="transactioncurrency"),
            ColumnDef(
                "parentaccountidname", "String", "Account name", attribute_of="parentaccountid"
            ),
            ColumnDef("owneridname", "String", "Owner name", attribute_of="ownerid"),
            ColumnDef("new_specialdiscount", "Decimal", "Special discount (%)", custom=True),
            ColumnDef(
                "new_paymentterms", "Picklist", "Payment terms", custom=True, options=PAYMENT_TERMS
            ),
            ColumnDef(
                "new_freeservices",
                "Virtual",
                "Free services",
                custom=True,
                options=FREE_SERVICES,
                type_name=MULTI,
            ),
            ColumnDef("new_slapromise", "String", "SLA promise", custom=True),
            ColumnDef("new_specialinstructions", "Memo", "Special instructions", custom=True),
            ColumnDef(
                "new_termsvaliduntil", "DateTime", "Terms valid until", custom=True, date_only=True
            ),
            ColumnDef("new_approvedby", "String", "Approved by", custom=True),
            ColumnDef("new_region", "Picklist", "Sales region", custom=True, options=SALES_REGION),
            ColumnDef("new_hasspecialterms", "Boolean", "Has special terms", custom=True),
            ColumnDef(
                "new_internalscore", "Integer", "Internal score", custom=True, readable=False
            ),
        ),
        navigations={"parentaccountid": "parentaccountid", "parentcontactid": "parentcontactid"},
    )


def account() -> TableDef:
    """Accounts: the customer as the territory knows it."""
    return TableDef(
        logical="account",
        entity_set="accounts",
        key="accountid",
        primary_name="name",
        columns=_columns(
            *_common("accountid", "Account"),
            ColumnDef("name", "String", "Account Name"),
            ColumnDef("accountnumber", "String", "Account Number"),
            ColumnDef("websiteurl", "String", "Website"),
            ColumnDef("emailaddress1", "String", "Email"),
            ColumnDef("telephone1", "String", "Main Phone"),
            ColumnDef("industrycode", "Picklist", "Industry", options=INDUSTRY),
            ColumnDef("statecode", "State", "Status", options=ACTIVE_STATE),
            ColumnDef("primarycontactid", "Lookup", "Primary Contact", target="contact"),
            ColumnDef("new_customernumber", "String", "Customer number", custom=True),
        ),
        navigations={"primarycontactid": "primarycontactid"},
    )


def contact() -> TableDef:
    """Contacts: people at the customer."""
    return TableDef(
        logical="contact",
        entity_set="contacts",
        key="contactid",
        primary_name="fullname",
        columns=_columns(
            *_common("contactid", "Contact"),
            ColumnDef("fullname", "String", "Full Name"),
            ColumnDef("firstname", "String", "First Name"),
            ColumnDef("lastname", "String", "Last Name"),
            ColumnDef("emailaddress1", "String", "Email"),
            ColumnDef("telephone1", "String", "Business Phone"),
            ColumnDef("parentcustomerid", "Customer", "Company Name", target="account"),
            ColumnDef("statecode", "State", "Status", options=ACTIVE_STATE),
        ),
    )


def all_tables() -> dict[str, TableDef]:
    """Fresh definitions of every simulated table, by logical name."""
    return {t.logical: t for t in (opportunity(), account(), contact())}
