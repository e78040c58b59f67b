"""A target's identity index: which desk record carries which key, and its display name.

The store knows records only as the desk reported them and the keys the caller says they are
found by: which keys a record carries (normalisation, matching) is the domain's business
(:mod:`sync_jobs.domain.matching`), so callers pass each record with its keys and build their
:class:`~sync_jobs.domain.matching.IdentityIndex` from :func:`index_hits`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.store import hop
from sync_jobs.store import tables as t
from sync_jobs.store.bulk import Same, prepared_columns
from sync_jobs.store.decode import decoder
from sync_jobs.store.driver_sql import DriverSql
from sync_jobs.store.encoded import JsonText
from sync_jobs.store.sql import chunks, pairs_in, records_in

IndexKey = tuple[str, str]


"""(match type, normalised value), as :func:`sync_jobs.domain.matching.identity_keys` says."""


IndexedRecord = tuple[CustomerRecord, Sequence[IndexKey]]


"""A desk record and the keys it is found by (none once it is deleted)."""


class IndexHit(NamedTuple):
    """One stored claim: the record ``kind:record_id`` carries ``(match, value)``."""

    match: str
    value: str
    kind: str
    record_id: str


async def index_records(
    conn: AsyncConnection, target: str, indexed: Sequence[IndexedRecord], now: datetime
) -> list[RecordRef]:
    """Replace the identity keys of the given records (deleted records leave the index).

    Returns the records that lost a key they were indexed under (or were deleted): deals
    matched through such a key must be checked before their next write. Safe to run
    concurrently for the same records (the daemon's replicas may do so). Each chunk of
    records is one trip to the driver (:mod:`sync_jobs.store.hop`): the old keys read, the
    keys and deleted records removed, the records and their keys written.
    """
    sql = DriverSql(conn.dialect)
    lost: list[RecordRef] = []
    for part in chunks(indexed):
        columns = f"SELECT {sql.names(_KEYS_COLUMNS)} FROM"
        reads = _by_record(sql, columns, t.identity, target, part)
        statements = [
            *reads,
            *_by_record(sql, "DELETE FROM", t.identity_key, target, part),
            *_by_record(sql, "DELETE FROM", t.identity, target, [i for i in part if i[0].deleted]),
            *_writes(conn.dialect, target, [i for i in part if not i[0].deleted], now),
        ]
        outcomes = await hop.run(conn, statements)
        decode = decoder(conn.dialect, _KEYS_COLUMNS)
        before = {
            (kind, record_id): {(m, v) for m, v in keys or ()}
            for outcome in outcomes[: len(reads)]
            for kind, record_id, keys in map(decode, outcome.rows)
        }
        lost += _lost(before, part)
    return lost


_KEYS_COLUMNS = [t.identity.c.kind, t.identity.c.record_id, t.identity.c["keys"]]


def _by_record(
    sql: DriverSql, verb: str, table: sa.Table, target: str, indexed: Sequence[IndexedRecord]
) -> list[hop.Statement]:
    """``verb`` (a read of some columns, or a delete) of these records' rows: one statement
    per record kind, so the index on (target, kind, record_id) serves it."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for record, _ in indexed:
        by_kind[record.ref.kind].append(record.ref.id)
    return [
        hop.Statement(
            f"{verb} {sql.table(table)} WHERE target = {sql.mark} "
            f"AND kind = {sql.mark} AND {sql.among('record_id', len(ids))}",
            [target, kind, *sql.values(ids)],
            fetch=verb.startswith("SELECT"),
        )
        for kind, ids in by_kind.items()
    ]


def _writes(
    dialect: Dialect, target: str, live: Sequence[IndexedRecord], now: datetime
) -> list[hop.Statement]:
    """The live records and their keys. Upserts, not delete-then-insert: replicas running
    different jobs of one target may refresh the same records at the same moment."""
    if not live:
        return []
    # Column by column (``prepared_columns``): a dict a record and a dict a key, built only
    # to be taken apart again, cost more than the rest of preparing them.
    refs = [record.ref for record, _ in live]
    text, values = prepared_columns(
        dialect,
        t.identity,
        {
            "target": Same(target),
            "kind": [ref.kind for ref in refs],
            "record_id": [ref.id for ref in refs],
            "name": [record.name for record, _ in live],
            "keys": [keys_text(keys) for _, keys in live],
            "updated_at": Same(now),
        },
        keys=_RECORD_KEY,
        update=["name", "keys", "updated_at"],
    )
    statements = [hop.Statement(text, values, many=True)]
    claims = [(m, v, ref) for ref, (_, keys) in zip(refs, live, strict=True) for m, v in keys]
    if claims:
        text, values = prepared_columns(
            dialect,
            t.identity_key,
            {
                "target": Same(target),
                "match": [m for m, _, _ in claims],
                "value": [v[:320] for _, v, _ in claims],
                "kind": [ref.kind for _, _, ref in claims],
                "record_id": [ref.id for _, _, ref in claims],
            },
            keys=["target", "match", "value", "kind", "record_id"],
            update=(),
        )
        statements.append(hop.Statement(text, values, many=True))
    return statements


_RECORD_KEY = ["target", "kind", "record_id"]

_JSON_STRING = json.encoder.encode_basestring_ascii
"""What ``json.dumps`` makes of a str (ASCII, quoted), called without its Python layers."""


def keys_text(keys: Sequence[IndexKey]) -> JsonText:
    """The ``keys`` column's text, as ``json.dumps([list(k) for k in keys])`` makes it
    (``[["domain", "a.example"]]``). Every record of every index page is written with its
    keys, and ``dumps``' Python layers cost twice this for two short pairs. The string
    encoder refuses what is not text, and unpacking what is not a pair: such a key goes
    through ``dumps`` itself, which writes it as it always did."""
    try:
        pairs = ", ".join([f"[{_JSON_STRING(m)}, {_JSON_STRING(v)}]" for m, v in keys])
    except (TypeError, ValueError):
        return JsonText(json.dumps([list(k) for k in keys]))
    return JsonText(f"[{pairs}]")


def _lost(
    before: dict[tuple[str, str], set[tuple[str, str]]], indexed: Sequence[IndexedRecord]
) -> list[RecordRef]:
    """Records whose stored keys include one they no longer carry (by the identity key)."""
    if not before:  # none of them was indexed (a first refresh, new records)
        return []
    lost = []
    for record, keys in indexed:
        old = before.get((record.ref.kind, record.ref.id))
        if old and old - (set() if record.deleted else set(keys)):
            lost.append(record.ref)
    return lost


async def index_hits(
    conn: AsyncConnection, target: str, keys: Iterable[IndexKey]
) -> list[IndexHit]:
    """The part of one target's identity index that ``keys`` name (one query per match type
    and chunk, all in one trip to the driver: :mod:`sync_jobs.store.hop`; the primary key
    serves the lookup)."""
    by_match: dict[str, list[str]] = defaultdict(list)
    for match, value in keys:
        by_match[match].append(value)
    sql = DriverSql(conn.dialect)
    k = t.identity_key.c
    text = (
        f"SELECT {sql.names([k.value, k.kind, k.record_id])} "  # noqa: S608
        f"FROM {sql.table(t.identity_key)} "
        f"WHERE {sql.quote('target')} = {sql.mark} AND {sql.quote('match')} = {sql.mark} AND "
    )
    asked = [(match, part) for match, values in by_match.items() for part in chunks(values)]
    statements = [
        hop.Statement(
            text + sql.among("value", len(part)), [target, match, *sql.values(part)], fetch=True
        )
        for match, part in asked
    ]
    hits: list[IndexHit] = []
    for (match, _), outcome in zip(asked, await hop.run(conn, statements), strict=True):
        hits += [IndexHit(match, value, kind, record_id) for value, kind, record_id in outcome.rows]
    return hits


async def record_names(conn: AsyncConnection, target: str, keys: Iterable[str]) -> dict[str, str]:
    """Display names of records by customer key (``kind:id``), for output and alerts."""
    # (kind, id) pairs as RecordRef.from_key splits them, without a model per key (building
    # them was most of this lookup's time)
    wanted = [(kind, record_id) for kind, _, record_id in (k.partition(":") for k in keys)]
    i = t.identity.c
    names: dict[str, str] = {}
    for part in chunks(wanted):
        rows = await conn.execute(
            sa.select(i.kind, i.record_id, i.name).where(
                i.target == target, pairs_in(i.kind, i.record_id, part)
            )
        )
        names.update((f"{r.kind}:{r.record_id}", r.name or "") for r in rows)
    return names


async def record_key_named(conn: AsyncConnection, target: str, name: str) -> str | None:
    """The customer key (``kind:id``) of the indexed record called ``name``, if any."""
    row = (
        await conn.execute(
            sa.select(t.identity.c.kind, t.identity.c.record_id).where(
                t.identity.c.target == target, t.identity.c.name == name
            )
        )
    ).first()
    return None if row is None else f"{row.kind}:{row.record_id}"


async def is_indexed(conn: AsyncConnection, target: str, kind: str, record_id: str) -> bool:
    """Whether the identity index holds this desk record."""
    row = (
        await conn.execute(
            sa.select(t.identity.c.record_id).where(
                t.identity.c.target == target,
                t.identity.c.kind == kind,
                t.identity.c.record_id == record_id,
            )
        )
    ).first()
    return row is not None


async def forget(conn: AsyncConnection, target: str, customer_keys: Sequence[str]) -> None:
    """The desk records are gone: they leave the identity index (some desks never report
    deletions in their listings)."""
    gone = [RecordRef.from_key(k) for k in customer_keys]
    for part in chunks(gone):
        for table in (t.identity, t.identity_key):
            await conn.execute(
                sa.delete(table).where(table.c.target == target, records_in(table, part))
            )
