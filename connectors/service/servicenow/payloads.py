"""ServiceNow rows <-> dealbridge records: record kinds and tables, identity, writable values.

Kinds and tables (FACTS.md section 3): ``account`` is ``customer_account`` (B2B; found by the
customer number column and the host of its ``website``), ``contact`` is ``customer_contact``
(extends ``sys_user``; found by ``email``), ``consumer`` is ``csm_consumer`` (B2C; found by
``email`` and ``number``). ``RecordRef.id`` is the record's ``sys_id``.

Rows arrive with every value a string (FACTS.md 2.1), references as bare sys_ids
(``sysparm_exclude_reference_link=true``), date-times ``YYYY-MM-DD HH:MM:SS`` UTC (2.3).
``CustomerRecord.version`` is ``sys_mod_count``: it grows by one with every saved update
(2.5, 7.3), which is how an agent's save between our read and our write is noticed.
Field paths are column names as the dictionary spells them (``notes``, ``u_payment_terms``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import CustomerRecord, RecordRef
from connectors.errors import PermanentError
from connectors.record_values import field_value, identity_value, record_key
from connectors.service.servicenow.catalog import Column, TableSchema
from connectors.service.servicenow.config import ServiceNowConfig
from connectors.service.servicenow.paging import parse_stamp
from connectors.service.servicenow.values import column_value, decode

ACCOUNT, CONTACT, CONSUMER = "account", "contact", "consumer"
TABLES = {ACCOUNT: "customer_account", CONTACT: "customer_contact", CONSUMER: "csm_consumer"}
EMAIL_COLUMN = "email"
NAME_COLUMN = "name"


@dataclass(frozen=True)
class IdentityColumns:
    """The columns a kind's records are found by, all checked against its schema."""

    external_id: str | None = None
    email: str | None = None
    domain: str | None = None
    name: str | None = None

    @property
    def asked(self) -> tuple[str, ...]:
        """``sysparm_fields`` for the identity feed."""
        wanted: tuple[str | None, ...] = ("sys_id", "sys_updated_on", "sys_mod_count")
        wanted += (self.name, self.external_id, self.email, self.domain)
        return tuple(dict.fromkeys(c for c in wanted if c))


def identity_columns(kind: str, config: ServiceNowConfig, schema: TableSchema) -> IdentityColumns:
    """A kind's identity columns. A configured column the table lacks is an admin's mistake
    that would leave every record without that key (ServiceNow ignores unknown fields), so it
    stops the run; a default one the table lacks (a consumer's ``name``) is left out."""
    configured = next((c for k, c in config.external_id_fields.items() if k == kind), None)
    if configured is not None and not schema.has(configured):
        raise PermanentError(
            f"external_id_fields.{kind} names {configured!r}, which is not a column of "
            f"{schema.table} (sys_dictionary); set it to the column holding the customer number",
            who_acts="admin",
            operation="identity",
        )
    domain = config.domain_field if kind == ACCOUNT else None
    if domain is not None and not schema.has(domain):
        raise PermanentError(
            f"domain_field names {domain!r}, which is not a column of {schema.table}",
            who_acts="admin",
            operation="identity",
        )
    return IdentityColumns(
        external_id=configured,
        email=EMAIL_COLUMN if kind in (CONTACT, CONSUMER) and schema.has(EMAIL_COLUMN) else None,
        domain=domain,
        name=NAME_COLUMN if schema.has(NAME_COLUMN) else None,
    )


def to_record(
    kind: str,
    row: Mapping[str, Any],
    schema: TableSchema,
    identity: IdentityColumns,
    *,
    with_fields: bool = True,
) -> CustomerRecord:
    """A record for the index (identity only) or for the planner (with writable values)."""
    sys_id = record_key(column_value(row.get("sys_id"), "sys_id"), "sys_id")
    name = _text(row, identity.name) or ""
    external_id = _text(row, identity.external_id)
    email = _text(row, identity.email)
    website = _text(row, identity.domain)
    fields: dict[str, Any] = {}
    if with_fields:
        for column_name, raw in row.items():
            column = schema.column(column_name)
            if column is not None and column.writable:
                fields[column_name] = _column_value(column, column_name, raw)
    return CustomerRecord(
        ref=RecordRef(kind=kind, id=sys_id),
        name=name,
        external_id=external_id,
        emails=(email.lower(),) if email else (),
        domains=(host,) if website and (host := host_of(website)) else (),
        fields=fields,
        updated_at=parse_stamp(_text(row, "sys_updated_on")),
        version=_text(row, "sys_mod_count"),
    )


def reader(
    kind: str, schema: TableSchema, identity: IdentityColumns, *, with_fields: bool = True
) -> Callable[[Mapping[str, Any]], CustomerRecord]:
    """:func:`to_record` of one row, for reading a page row by row (``read_each``)."""
    return lambda row: to_record(kind, row, schema, identity, with_fields=with_fields)


def host_of(url: str) -> str:
    """``https://www.Acme.example/about`` -> ``acme.example`` (what domain rules compare)."""
    text = url.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    text = text.rsplit("@", 1)[-1].split(":", 1)[0]
    return text.removeprefix("www.").strip(".")


def _column_value(column: Column, name: str, raw: Any) -> Any:
    """A writable column's value as read (:func:`decode`), refused when it is not one
    (an object that is no reference, NaN, ...)."""
    return field_value(decode(column, raw), name)


def _text(row: Mapping[str, Any], column: str | None) -> str | None:
    """An identity column's text (None when not configured, empty or null); the Table API
    sends text, so a list, an object without a ``value`` text, NaN or an infinity is
    refused (:class:`~connectors.record_values.MalformedRecord`)."""
    if not column:
        return None
    return identity_value(column_value(row.get(column), column), column)
