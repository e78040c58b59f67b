"""Field metadata from describe: what can be written, its type, its choices, its limit.

``GET /services/data/vXX.X/sobjects/{Account|Contact}/describe`` lists ``fields[]`` with
``name``, ``label``, ``type``, ``length``, ``updateable``, ``nillable``, ``custom``,
``externalId``, ``filterable``, ``picklistValues[{value, active}]`` and ``restrictedPicklist``
(FACTS.md 3.1). Describes are cached per connector instance; a write or query that names a field
or picklist value the cache lacks re-reads the describe (at most every ``describe_refresh``
seconds per object), since an admin may have just created it.

Limits (FACTS.md 3.2): ``length`` counts characters, but Salesforce enforces text areas in UTF-8
**bytes**. One-line text is checked in characters, text areas in bytes, before anything is sent.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.base import FieldInfo
from connectors.desk import DeskPart, labelled, merged_by_name
from connectors.record_values import option_values
from connectors.service.servicecloud.client import ServiceCloudApi
from connectors.service.servicecloud.config import ServiceCloudConfig

NUMBER_TYPES = frozenset({"double", "currency", "percent", "int", "long"})
TEXT_TYPES = frozenset(
    {"string", "textarea", "email", "url", "phone", "picklist", "multipicklist", "combobox"}
)
WRITABLE_TYPES = TEXT_TYPES | NUMBER_TYPES | {"boolean", "date", "datetime"}
"""Types a mapping may write (references, ids, compound addresses and blobs are left out)."""
BYTES_PER_CHAR_MAX = 4
"""The most UTF-8 bytes one character can take."""


@dataclass(frozen=True)
class Column:
    """One field of one object, as describe reports it."""

    name: str
    type: str
    label: str
    length: int = 0
    updateable: bool = False
    nillable: bool = True
    custom: bool = False
    external_id: bool = False
    filterable: bool = True
    restricted: bool = False
    choices: tuple[str, ...] = ()
    """Active picklist values (what the API should be sent)."""
    case_sensitive: bool = False
    """SOQL compares this field's text exactly (unique case-sensitive fields)."""

    @classmethod
    def from_describe(cls, raw: Any) -> Column | None:
        """A describe ``fields[]`` item (None for junk)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
            return None
        length = raw.get("length")
        return cls(
            name=raw["name"],
            type=str(raw.get("type") or "string"),
            label=str(raw.get("label") or raw["name"]),
            length=length if isinstance(length, int) and length > 0 else 0,
            updateable=raw.get("updateable") is True,
            nillable=raw.get("nillable") is not False,
            custom=raw.get("custom") is True,
            external_id=raw.get("externalId") is True,
            filterable=raw.get("filterable") is not False,
            restricted=raw.get("restrictedPicklist") is True,
            choices=option_values(raw.get("picklistValues")),
            case_sensitive=raw.get("caseSensitive") is True,
        )

    @property
    def writable(self) -> bool:
        """Updateable and of a type a mapping can write."""
        return self.updateable and self.type in WRITABLE_TYPES

    @property
    def counts_bytes(self) -> bool:
        """Text areas are enforced in UTF-8 bytes, other text in characters (FACTS.md 3.2)."""
        return self.type == "textarea"

    @property
    def has_choices(self) -> bool:
        """A picklist whose values the connector checks before writing."""
        return self.type in ("picklist", "multipicklist") and bool(self.choices)


@dataclass(frozen=True)
class ObjectSchema:
    """One object's fields by lower-case name (API names are case-insensitive)."""

    name: str
    columns: Mapping[str, Column]
    read_at: float = 0.0

    @classmethod
    def from_describe(cls, sobject: str, body: Any, read_at: float = 0.0) -> ObjectSchema:
        """Parse a describe body (its ``name`` wins over the name asked for)."""
        raw_fields = body.get("fields") if isinstance(body, dict) else None
        columns = [Column.from_describe(raw) for raw in raw_fields or []]
        name = body.get("name") if isinstance(body, dict) else None
        return cls(
            name=name if isinstance(name, str) and name else sobject,
            columns={c.name.lower(): c for c in columns if c is not None},
            read_at=read_at,
        )

    def get(self, name: str) -> Column | None:
        """The field called ``name`` (any case)."""
        return self.columns.get(name.lower())

    def present(self, names: Iterable[str | None]) -> list[str]:
        """The canonical API names of those ``names`` the object has (None and misses dropped)."""
        found = (self.get(n) for n in names if n)
        return list(dict.fromkeys(c.name for c in found if c is not None))

    def writable(self, only: Sequence[str] | None = None) -> list[Column]:
        """Writable fields, all of them or those ``only`` names."""
        if only is None:
            return [c for c in self.columns.values() if c.writable]
        picked = (self.get(name) for name in only)
        return [c for c in picked if c is not None and c.writable]


Fetch = Callable[[str], Awaitable[Any]]


@dataclass
class Describes:
    """Describes by object name, cached; re-read on a miss at most every ``refresh_after`` s."""

    fetch: Fetch
    refresh_after: float
    clock: Callable[[], float] = time.monotonic
    cache: dict[str, ObjectSchema] = field(default_factory=dict)

    async def get(self, sobject: str) -> ObjectSchema:
        """The object's schema (read once, then cached)."""
        if sobject not in self.cache:
            await self._read(sobject)
        return self.cache[sobject]

    async def refresh(self, sobject: str) -> bool:
        """Read the describe again unless it was read within ``refresh_after`` seconds;
        True when it was read again."""
        cached = self.cache.get(sobject)
        if cached is not None and self.clock() - cached.read_at < self.refresh_after:
            return False
        await self._read(sobject)
        return True

    async def _read(self, sobject: str) -> None:
        body = await self.fetch(sobject)
        self.cache[sobject] = ObjectSchema.from_describe(sobject, body, self.clock())


def note_chars(column: Column, override: int | None) -> int:
    """Characters the note may take in ``column``.

    A text area is enforced in UTF-8 bytes (FACTS.md 3.2) and a character takes up to four, so
    ``length // 4`` characters can never be refused whatever they are. An admin who knows the
    field's text is mostly single-byte may raise it up to ``length`` (``note_max_chars``); a
    value over the byte limit is then refused by the writer before it is sent."""
    if override is not None:
        return min(override, column.length) if column.length else override
    if column.counts_bytes:
        return column.length // BYTES_PER_CHAR_MAX
    return column.length


def build_catalog(
    schemas: Mapping[str, ObjectSchema],
    only: Sequence[str] | None,
    note_field: str,
    note_limit: int,
) -> list[FieldInfo]:
    """Every writable field of the configured kinds, one entry per API name.

    Mappings write bare API names (``Special_Discount__c``); a name on both Account and Contact
    is listed once, writable with the choices and length both accept, since ``validate`` checks
    one catalog whichever kind a mapping attaches to."""
    columns = (
        (schema.name, column.name.lower(), column)
        for schema in schemas.values()
        for column in schema.writable(only)
    )
    catalog = []
    for column, objects in merged_by_name(columns, _narrower):
        limit = note_limit if column.name.lower() == note_field.lower() else column.length or None
        catalog.append(
            FieldInfo(
                path=column.name,
                type=column.type,
                label=labelled(column.label, objects),
                custom=column.custom,
                writable=True,
                choices=column.choices if column.has_choices else (),
                max_length=limit if column.type in TEXT_TYPES else None,
            )
        )
    return catalog


def _narrower(first: Column, second: Column) -> Column:
    """What a value must satisfy to be written to both fields."""
    choices = tuple(c for c in first.choices if c in second.choices)
    lengths = [n for n in (first.length, second.length) if n]
    return Column(
        name=first.name,
        type=first.type if first.type == second.type else "string",
        label=first.label,
        length=min(lengths) if lengths else 0,
        updateable=True,
        custom=first.custom,
        restricted=first.restricted or second.restricted,
        choices=choices,
    )


class DescribedPart(DeskPart[ServiceCloudConfig, ServiceCloudApi]):
    """One job of the connector (writer, alert cases) that reads objects' fields through the
    target's shared :class:`Describes` cache."""

    def __init__(
        self, api: ServiceCloudApi, config: ServiceCloudConfig, describes: Describes
    ) -> None:
        super().__init__(api, config)
        self._describes = describes
