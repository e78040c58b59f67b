"""Target field catalogs: checked live before every write, and kept for offline checks.

A desk may accept a write to a field it does not have and drop the value without a word
(Zendesk ignores unknown ``organization_fields`` keys), so a misspelled field in a mapping
would be lost silently, run after run. Two guards, vendor-neutral (they use only
``ServiceTarget.field_catalog``):

* a run that has something to write fetches the target's catalog once (the first batch with
  changes asks; every later batch of the run reuses it) and fails each record whose changes
  name a field the catalog lacks, naming the field and the closest real one;
* the last catalog fetched (by a run or by ``dealbridge validate``) is kept in the state store,
  so ``validate --offline`` and the daemon's reload check write fields without a request, and
  say so plainly when there is nothing to check against.

What a fetch costs is the connector's: Zendesk one GET per record kind in ``record_kinds``
(two by default) plus one per further page of 100 field definitions; Freshdesk two GETs.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.base import FieldInfo
from connectors.errors import ConfigProblem
from connectors.settings import ConnectorConfig
from sync_jobs.config.yamlio import line_of
from sync_jobs.domain.mapping import MappingSpec
from sync_jobs.store import catalogs
from sync_jobs.store.db import Store, StoreError, is_sqlite, make_engine, read_tx, write_tx


@dataclass(frozen=True)
class Catalog:
    """A target's fields as one fetch found them."""

    connector: str
    fields: tuple[FieldInfo, ...]
    fetched_at: datetime | None = None
    """When it was fetched, for a catalog read back from the state store (None: live)."""

    @property
    def by_path(self) -> dict[str, FieldInfo]:
        """Fields by the dotted path mappings write."""
        return {f.path: f for f in self.fields}

    def describe(self) -> str:
        """``zendesk's field catalog``, with ``(fetched ... UTC)`` when read back from the store."""
        when = f" (fetched {self.fetched_at:%Y-%m-%d %H:%M} UTC)" if self.fetched_at else ""
        return f"{self.connector}'s field catalog{when}"


def identity(config: ConnectorConfig) -> str:
    """Which desk a catalog describes: a catalog kept for another instance (the connector's
    base URL or kind changed) is not used to judge this one."""
    return hashlib.sha256(f"{config.kind} {config.base_url}".encode()).hexdigest()[:16]


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """The closest known field path, if one is close enough to be a likely typo."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


def missing_field_message(name: str, catalog: Catalog) -> str:
    """What a record failing on an unknown field says: the field, where, and the fix."""
    guess = did_you_mean(name, catalog.by_path)
    fix = f"did you mean `{guess}`?" if guess else "create the field in the desk first"
    return (
        f"field `{name}` does not exist in {catalog.describe()}; nothing was written to this "
        f"record ({fix} fix the mapping's write: section, then run again)"
    )


def refused_fields(fields: Iterable[str], catalog: Catalog) -> list[str]:
    """The fields of a planned change that the target cannot take (unknown or read-only)."""
    by_path = catalog.by_path
    return [f for f in fields if f not in by_path or not by_path[f].writable]


class LiveCatalog:
    """One run's view of its target's catalog: fetched on first use, then reused."""

    def __init__(self) -> None:
        self._catalog: Catalog | None = None
        self._lock = asyncio.Lock()

    async def get(self, fetch: Callable[[], Awaitable[Catalog]]) -> Catalog:
        """The catalog, fetching it once however many write workers ask at the same time."""
        async with self._lock:
            if self._catalog is None:
                self._catalog = await fetch()
            return self._catalog


def write_field_problems(
    spec: MappingSpec, catalog: Catalog, path: Path, doc: Any
) -> list[ConfigProblem]:
    """Every ``write:`` field and the note field checked against ``catalog`` (validate and
    the daemon's reload use this; a run checks each record's changes the same way)."""
    by_path = catalog.by_path
    found = []
    for name in spec.write:
        info = by_path.get(name)
        if info is None or not info.writable:
            guess = did_you_mean(name, by_path)
            what = "does not exist" if info is None else "is not writable"
            found.append(
                ConfigProblem(
                    str(path),
                    line_of(doc, ("write", name)),
                    f"write.{name}",
                    f"target field {name!r} {what} in {catalog.describe()}",
                    f"did you mean {guess!r}?" if guess else "create the field in the desk first",
                )
            )
            continue
        found += _choices(spec, name, info, path, doc)
    note = spec.note.field
    if note not in by_path:
        found.append(
            ConfigProblem(
                str(path),
                line_of(doc, ("note", "field")),
                "note.field",
                f"target field {note!r} does not exist in {catalog.describe()}",
                f"use one of: {', '.join(sorted(by_path)[:8])}",
            )
        )
    return found


def _choices(
    spec: MappingSpec, name: str, info: FieldInfo, path: Path, doc: Any
) -> list[ConfigProblem]:
    if not info.choices:
        return []
    rule = spec.write[name]
    term = spec.terms[rule.value]
    produced = set(term.values.values()) if term.values else set()
    if rule.map:
        produced = {rule.map.get(v, v) for v in produced} | set(rule.map.values())
    missing = sorted(v for v in produced if v not in info.choices)
    if not missing:
        return []
    return [
        ConfigProblem(
            str(path),
            line_of(doc, ("write", name)),
            f"write.{name}",
            f"value(s) {', '.join(map(repr, missing))} are not choices of the "
            f"target field (choices: {', '.join(info.choices)})",
            "add a 'map:' from canonical value to the target's choice",
        )
    ]


async def remember(
    store: Store,
    name: str,
    config: ConnectorConfig,
    fields: Sequence[FieldInfo],
    now: datetime,
) -> None:
    """Keep the catalog just fetched (replacing the previous one of this connector)."""
    rows = [f.model_dump(mode="json") for f in fields]
    async with write_tx(store) as conn:
        await catalogs.keep(conn, name, identity(config), rows, now)


async def recall(store: Store, name: str, config: ConnectorConfig) -> Catalog | None:
    """The catalog last fetched from this connector's desk (None: never, or another desk)."""
    async with read_tx(store) as conn:
        row = await catalogs.kept(conn, name)
    if row is None or row.identity != identity(config):
        return None
    fields = tuple(FieldInfo.model_validate(f) for f in row.fields)
    return Catalog(name, fields, row.fetched_at)


async def recall_offline(
    url: str, targets: dict[str, ConnectorConfig]
) -> tuple[dict[str, Catalog], str | None]:
    """Kept catalogs for ``validate --offline``, read without creating or migrating a store.

    Returns the catalogs found and, when the store could not be read at all, why."""
    if is_sqlite(url) and not Path(url.removeprefix("sqlite:///")).is_file():
        return {}, None  # no runs yet on this machine: nothing kept, nothing to create
    store = make_engine(url)
    try:
        found = {}
        for name, config in targets.items():
            catalog = await recall(store, name, config)
            if catalog is not None:
                found[name] = catalog
    except (OSError, StoreError) as exc:
        # An older schema (no field_catalog table yet) or an unreachable PostgreSQL.
        return {}, f"the state store could not be read ({type(exc).__name__})"
    finally:
        await store.dispose()
    return found, None
