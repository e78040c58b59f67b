"""The simulated instance's schema (CSM tables as FACTS.md section 3 lists them) and demo data.

Hierarchy: ``customer_contact`` extends ``sys_user`` (FACTS.md 3); ``customer_account``
extends ``core_company`` and ``sn_customerservice_case`` extends ``task`` [assumption: the
parents of these two are not in FACTS.md (Gaps); this simulator puts ``name`` and
``website`` on ``core_company`` so that inherited columns are exercised]. Lengths are the
documented ones (``notes`` 4,000, ``number`` 40, ``name`` 80, ``website`` 1,024, ``discount``
15, consumer ``email`` 100, case ``short_description`` 160, journal entries 4,000).

``number`` is marked read-only here [assumption: the docs say only that the instance generates
it]. Custom columns an admin would add for dealbridge (``u_`` prefix, global scope, FACTS.md 6.2):
the customer number, the special discount, payment terms (a choice list: the API does not
enforce it, 6.5), the terms' expiry date, the SLA promise, and a note column on contacts
(contacts have no ``notes``).
"""

from __future__ import annotations

from connectors.service.servicenow.simulator.store import JOURNAL, ColumnDef, Store, TableDef
from sandbox.demo_data import CUSTOMERS

PAYMENT_TERMS = ("net30", "net45", "net60")
"""``u_payment_terms`` choice values (labels "Net 30", ...)."""

AGENT_WRITTEN = {
    "acme": "Key account since 2019. Escalate billing questions to Riley Chen first.",
}
"""Notes agents wrote by hand; dealbridge must keep them around its block."""


def _columns(*columns: ColumnDef) -> dict[str, ColumnDef]:
    return {c.name: c for c in columns}


def csm_schema() -> list[TableDef]:
    """The tables of a CSM instance, parents first."""
    deal_columns = (
        ColumnDef("u_special_discount", "decimal", 15, "Special discount"),
        ColumnDef(
            "u_payment_terms", "string", 40, "Payment terms", choices=PAYMENT_TERMS, choice_mode="1"
        ),
        ColumnDef("u_terms_valid_until", "glide_date", 40, "Terms valid until"),
        ColumnDef("u_sla_promise", "string", 255, "SLA promise"),
    )
    return [
        TableDef("sys_user_group", columns=_columns(ColumnDef("name", max_length=80))),
        TableDef(
            "core_company",
            label="Company",
            columns=_columns(
                ColumnDef("name", max_length=80, label="Name"),
                ColumnDef("website", "url", 1024, "Website"),
                ColumnDef("phone", "ph_number", 40, "Phone"),
            ),
        ),
        TableDef(
            "customer_account",
            parent="core_company",
            number_prefix="ACCT",
            label="Account",
            columns=_columns(
                ColumnDef("number", max_length=40, label="Number", read_only=True),
                ColumnDef("notes", max_length=4000, label="Notes"),
                ColumnDef("account_code", max_length=255, label="Account code"),
                ColumnDef("registration_code", max_length=40, label="Registration code"),
                ColumnDef("discount", "decimal", 15, "Discount"),
                ColumnDef("banner_text", max_length=4000, label="Banner text"),
                ColumnDef("primary_contact", "reference", reference="customer_contact"),
                ColumnDef("u_customer_number", max_length=40, label="Customer number"),
                *deal_columns,
            ),
        ),
        TableDef(
            "sys_user",
            label="User",
            columns=_columns(
                ColumnDef("user_name", max_length=100),
                ColumnDef("name", max_length=151, label="Name", read_only=True),
                ColumnDef("first_name", max_length=50),
                ColumnDef("last_name", max_length=50),
                ColumnDef("email", "email", 100, "Email"),
                ColumnDef("phone", "ph_number", 40),
                ColumnDef("active", "boolean", 40),
            ),
        ),
        TableDef(
            "customer_contact",
            parent="sys_user",
            label="Contact",
            columns=_columns(
                ColumnDef("account", "reference", reference="customer_account"),
                ColumnDef("u_dealbridge_note", max_length=4000, label="Deal terms"),
                ColumnDef("u_customer_number", max_length=40, label="Customer number"),
            ),
        ),
        TableDef(
            "csm_consumer",
            number_prefix="CSM",
            label="Consumer",
            columns=_columns(
                ColumnDef("number", max_length=40, label="Number", read_only=True),
                ColumnDef("name", max_length=151, label="Name"),
                ColumnDef("first_name", max_length=50),
                ColumnDef("last_name", max_length=50),
                ColumnDef("email", "email", 100, "Email"),
                ColumnDef("notes", max_length=4000, label="Notes"),
                *deal_columns,
            ),
        ),
        TableDef(
            "task",
            number_prefix="TASK",
            label="Task",
            columns=_columns(
                ColumnDef("number", max_length=40, read_only=True),
                ColumnDef("short_description", max_length=160, label="Short description"),
                ColumnDef("description", max_length=4000),
                ColumnDef("work_notes", JOURNAL, 4000, "Work notes"),
                ColumnDef("comments", JOURNAL, 4000, "Additional comments"),
                ColumnDef("correlation_id", max_length=100, label="Correlation ID"),
                ColumnDef("assignment_group", "reference", reference="sys_user_group"),
                ColumnDef("state", "integer", 40, choices=("1", "3", "6"), choice_mode="3"),
            ),
        ),
        TableDef(
            "sn_customerservice_case",
            parent="task",
            number_prefix="CS",
            label="Case",
            columns=_columns(
                ColumnDef("account", "reference", reference="customer_account"),
                ColumnDef("contact", "reference", reference="customer_contact"),
                ColumnDef("consumer", "reference", reference="csm_consumer"),
            ),
        ),
    ]


def define_schema(store: Store) -> None:
    """Create the CSM tables (and their dictionary, choice and hierarchy rows)."""
    for table in csm_schema():
        store.define(table)


def seed_demo(store: Store) -> dict[str, tuple[str, str]]:
    """One account (customer number, website) and one contact per demo customer, and a
    consumer each; returns ``{customer key: (account sys_id, contact sys_id)}``."""
    ids: dict[str, tuple[str, str]] = {}
    for customer in CUSTOMERS:
        account = store.insert(
            "customer_account",
            {
                "name": customer.name,
                "website": f"https://www.{customer.domain}",
                "u_customer_number": customer.external_id or "",
                "notes": AGENT_WRITTEN.get(customer.key, ""),
            },
        )
        first, _, last = customer.contact_name.partition(" ")
        contact = store.insert(
            "customer_contact",
            {
                "name": customer.contact_name,
                "first_name": first,
                "last_name": last,
                "email": customer.contact_email,
                "account": account["sys_id"],
            },
        )
        ids[customer.key] = (account["sys_id"], contact["sys_id"])
    return ids


def seed_bulk(store: Store, count: int, *, start: int = 0) -> list[str]:
    """``count`` synthetic accounts (benchmarks); returns their sys_ids."""
    made = []
    for n in range(start, start + count):
        row = store.insert(
            "customer_account",
            {
                "name": f"Bulk Customer {n:06d}",
                "website": f"https://bulk{n:06d}.example",
                "u_customer_number": f"BULK-{n:06d}",
            },
        )
        made.append(row["sys_id"])
    return made
