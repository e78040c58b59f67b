"""The identity index feed: accounts and contacts changed since the cursor, by SOQL keyset.

Per configured kind, one ``queryAll`` (deleted rows too, so the index drops them; FACTS.md 4.1)
selecting only what identifies a record (Id, Name, SystemModstamp, IsDeleted, the external-id,
website and email fields) ordered by ``SystemModstamp, Id``, in batches of ``page_size``
followed through ``nextRecordsUrl``. Each batch is a page whose checkpoint is its last row's
(SystemModstamp, Id); the next read starts after it with the keyset of :mod:`.queries`
(FACTS.md 4.2), so rows sharing a stamp are neither skipped nor read twice. ``SystemModstamp``
moves on every save, system ones included (FACTS.md 4.2, 6.1).

SOQL datetimes are written in whole seconds (the forms the SOQL reference lists): should a stamp
carry milliseconds, the query restarts at its second and the rows already read are dropped
here. A record whose transaction commits after the feed read past its stamp is not in the index
until it changes again; deals naming it are matched by the direct lookup (:mod:`.lookup`),
which reads the records themselves.

Contacts: person contacts (``IsPersonAccount = true``) are left out; a person account is found
as an account, by ``PersonEmail`` (FACTS.md 2.2).

The cursor is JSON ``{"account": {"stamp": "<ISO>", "id": "001..."}, "contact": {...}}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from connectors.base import Cursor, CustomerPage, CustomerRecord
from connectors.desk import DeskPart
from connectors.errors import PermanentError
from connectors.service.servicecloud.catalog import ObjectSchema
from connectors.service.servicecloud.client import ServiceCloudApi
from connectors.service.servicecloud.config import ServiceCloudConfig
from connectors.service.servicecloud.payloads import (
    ACCOUNT,
    ALWAYS,
    CONTACT,
    PERSON_FLAG,
    SOBJECT,
    STAMP,
    IdentityFields,
    parse_stamp,
    reader,
)
from connectors.service.servicecloud.queries import ORDER, after, both, business_only, select

log = structlog.get_logger("dealbridge.servicecloud")

IdentityOf = Callable[[str], Awaitable[IdentityFields]]


def identity_fields(kind: str, schema: ObjectSchema, config: ServiceCloudConfig) -> IdentityFields:
    """Which of this org's fields identify records of ``kind``; a configured field the object
    does not have is an admin error (the index would silently hold no such keys)."""
    if kind == ACCOUNT:
        wanted = {
            "account_external_id_field": config.account_external_id_field,
            "account_domain_field": config.account_domain_field,
        }
    else:
        wanted = {"contact_external_id_field": config.contact_external_id_field}
    for setting, name in wanted.items():
        if name and schema.get(name) is None:
            raise PermanentError(
                f"{setting} {name!r} is not a field of {schema.name} (describe): create it or fix "
                "the connector config",
                who_acts="admin",
                operation="identity fields",
            )
    person = schema.get(PERSON_FLAG) is not None
    if kind == ACCOUNT:
        email = "PersonEmail" if person and schema.get("PersonEmail") else None
        external, domain = config.account_external_id_field, config.account_domain_field
    else:
        email = "Email" if schema.get("Email") else None
        external, domain = config.contact_external_id_field, None
    return IdentityFields(
        external_id=_canonical(schema, external),
        domain=_canonical(schema, domain),
        email=email,
        person_flag=person,
        system=tuple(schema.present(ALWAYS)),
        exact_external_id=_exact(schema, external),
    )


def _exact(schema: ObjectSchema, name: str | None) -> bool:
    column = schema.get(name) if name else None
    return column is not None and column.case_sensitive


def _canonical(schema: ObjectSchema, name: str | None) -> str | None:
    column = schema.get(name) if name else None
    return column.name if column is not None else None


@dataclass(frozen=True)
class Position:
    """The last (SystemModstamp, Id) read of one kind; no stamp: from the beginning."""

    stamp: datetime | None = None
    record_id: str = ""

    def passed(self, stamp: datetime, record_id: str) -> bool:
        """Whether a row at (stamp, record_id) was read before this position."""
        if self.stamp is None:
            return False
        if stamp != self.stamp:
            return stamp < self.stamp
        # Same stamp: the query's own ``Id >`` decided, unless the stamp has milliseconds (the
        # query then restarted at its second and rows up to record_id come again).
        return self.stamp.microsecond != 0 and record_id <= self.record_id


@dataclass(frozen=True)
class FeedCursor:
    """Every kind's position."""

    positions: tuple[tuple[str, Position], ...] = ()

    def of(self, kind: str) -> Position:
        return dict(self.positions).get(kind, Position())

    def moved(self, kind: str, position: Position) -> FeedCursor:
        return replace(self, positions=tuple({**dict(self.positions), kind: position}.items()))

    def encode(self) -> Cursor:
        """The JSON text the engine stores."""
        payload = {
            kind: {"stamp": p.stamp.isoformat() if p.stamp else None, "id": p.record_id}
            for kind, p in self.positions
        }
        return Cursor.of(payload)

    @classmethod
    def decode(cls, cursor: Cursor | None) -> FeedCursor:
        """A stored cursor; anything unreadable means "read everything again"."""
        payload = Cursor.payload(cursor)
        positions = []
        for kind in (ACCOUNT, CONTACT):
            raw = payload.get(kind)
            if not isinstance(raw, dict):
                continue
            stamp = parse_stamp(raw.get("stamp"))
            record_id = raw.get("id")
            text = record_id if isinstance(record_id, str) and stamp is not None else ""
            positions.append((kind, Position(stamp, text)))
        return cls(tuple(positions))


class IdentityPart(DeskPart[ServiceCloudConfig, ServiceCloudApi]):
    """One job of the connector (identity feed, lookup) that reads each kind's identity
    fields through the target's describe cache (``of``)."""

    desk = "Service Cloud"
    id_field = "Id"

    def __init__(self, api: ServiceCloudApi, config: ServiceCloudConfig, of: IdentityOf) -> None:
        super().__init__(api, config)
        self._identity_of = of


class IdentityFeed(IdentityPart):
    """Reads changed accounts and contacts for ``customers(since)``."""

    async def pages(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        """Account pages, then contact pages, each with a checkpoint safe to store."""
        cursor = FeedCursor.decode(since)
        for kind in self._config.record_kinds:
            async for records, position in self._kind(kind, cursor.of(kind)):
                cursor = cursor.moved(kind, position)
                yield self._page(records, cursor.encode())

    async def _kind(
        self, kind: str, position: Position
    ) -> AsyncIterator[tuple[list[CustomerRecord], Position]]:
        fields = await self._identity_of(kind)
        keyset = after(position.stamp, position.record_id) if position.stamp else None
        people = business_only(fields.person_flag) if kind == CONTACT else None
        soql = select(SOBJECT[kind], fields.select(), both(keyset, people), ORDER)
        batches = self._api.query(
            soql, f"index {kind}s", deleted=True, batch=self._config.page_size
        )
        async for rows in batches:
            fresh = []
            for raw in rows:
                if not isinstance(raw, dict):
                    fresh.append(raw)  # reported by _read at its position; it names no place
                    continue
                stamp, record_id = parse_stamp(raw.get(STAMP)), raw.get("Id")
                if isinstance(record_id, str) and record_id:  # else reported by _read
                    if stamp is None:
                        log.warning("servicecloud_unreadable_stamp", record=record_id, kind=kind)
                    elif position.passed(stamp, record_id):
                        continue
                    else:
                        position = Position(stamp, record_id)
                fresh.append(raw)
            yield self._read(fresh, reader(kind, fields), kind), position
