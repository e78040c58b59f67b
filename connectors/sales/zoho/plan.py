"""Which fields one run reads, from the mapping's payload paths and the live fields metadata.

A path the catalog does not know stops the run before any deal is read, naming the path and
the closest API name: Zoho's list API may simply leave an unknown field out of every record
(FACTS.md §3.1, unverified either way), and a mapped field that silently vanished would clear
the agents' copy of it. ``dealbridge validate`` reports the same paths with file and line.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from connectors.errors import PermanentError
from connectors.sales.zoho.catalog import (
    DISPLAY,
    LOOKUP_TYPES,
    NAME_FIELDS,
    OWNER_KEYS,
    PICKLIST_TYPES,
    UNSELECTABLE_TYPES,
    ModuleFields,
    ZohoField,
    field_infos,
)

MAX_COLUMNS = 50
"""``fields`` on the list API and the COQL select list take at most 50 API names (§3.1, §4.2)."""
MAX_SELECT_JOINS = 15
"""Lookup traversals one COQL select may hold (§4.2)."""
ALWAYS = ("Modified_Time",)


@dataclass(frozen=True)
class Embed:
    """A lookup whose related record's fields are read into the deal's payload."""

    lookup: str
    module: str
    fields: tuple[str, ...]
    name_field: str | None


@dataclass(frozen=True)
class ReadPlan:
    """The columns of one run, and what the payload builder needs to know about them."""

    deal_fields: tuple[str, ...]
    embeds: tuple[Embed, ...] = ()
    owner: str | None = None
    """The owner lookup field whose name/email the mapping reads (``Owner``)."""
    owner_keys: tuple[str, ...] = ()
    picklists: tuple[ZohoField, ...] = ()

    def coql_columns(self) -> tuple[str, ...]:
        """The select list: id, the deal fields, one traversal per related field read."""
        columns = ["id", *self.deal_fields]
        columns += [f"{e.lookup}.{name}" for e in self.embeds for name in e.fields]
        if self.owner is not None:
            columns += [f"{self.owner}.{OWNER_KEYS[key]}" for key in self.owner_keys]
        return tuple(dict.fromkeys(columns))

    def coql_aliases(self) -> dict[str, list[tuple[str, str]]]:
        """Flat COQL key -> where it goes in the payload: ``(lookup, key)`` pairs."""
        aliases: dict[str, list[tuple[str, str]]] = {}
        for embed in self.embeds:
            for name in embed.fields:
                targets = [(embed.lookup, name)]
                if name == embed.name_field:
                    targets.append((embed.lookup, "name"))
                aliases[f"{embed.lookup}.{name}"] = targets
        if self.owner is not None:
            for key in self.owner_keys:
                aliases[f"{self.owner}.{OWNER_KEYS[key]}"] = [(self.owner, key)]
        return aliases

    def check_width(self, *, coql: bool) -> None:
        """Refuse a plan Zoho would refuse: too many columns or joins."""
        width = len(self.coql_columns()) if coql else len(self.deal_fields)
        widest_embed = max((len(e.fields) for e in self.embeds), default=0)
        joins = len(self.embeds) + (1 if self.owner and self.owner_keys else 0)
        problem = None
        if width > MAX_COLUMNS or widest_embed > MAX_COLUMNS:
            widest = max(width, widest_embed)
            problem = f"reads {widest} fields in one call; Zoho allows {MAX_COLUMNS}"
        elif coql and joins > MAX_SELECT_JOINS:
            problem = f"follows {joins} lookups; COQL allows {MAX_SELECT_JOINS}"
        if problem:
            raise PermanentError(
                f"the mapping {problem}: map fewer fields", who_acts="admin", operation="plan"
            )


def related_needed(
    paths: Iterable[str], deals: ModuleFields, related_lookups: Sequence[str]
) -> dict[str, str]:
    """Lookup field -> module whose fields metadata a run needs (paths reading into it)."""
    needed: dict[str, str] = {}
    for path in paths:
        head, _, tail = path.partition(".")
        item = deals.get(head)
        if (
            tail
            and tail not in ("id", "name")
            and item is not None
            and item.data_type == "lookup"
            and item.lookup_module
            and head in related_lookups
        ):
            needed[head] = item.lookup_module
    return needed


def plan_reads(
    paths: Sequence[str], deals: ModuleFields, related: dict[str, ModuleFields]
) -> ReadPlan:
    """The plan for the mapping's paths (everything readable when there are none)."""
    if not paths:
        return default_plan(deals)
    builder = _Builder(deals, related)
    for path in paths:
        builder.add(path)
    if builder.unknown:
        raise _unknown(builder.unknown, deals, related)
    return builder.plan()


def default_plan(deals: ModuleFields) -> ReadPlan:
    """No mapping yet (contract checks, previews): every plain field plus lookup names."""
    builder = _Builder(deals, {})
    for item in deals.fields.values():
        if item.data_type in UNSELECTABLE_TYPES:
            continue
        if item.data_type == "ownerlookup":
            builder.add(f"{item.api_name}.email")
            builder.add(f"{item.api_name}.name")
        elif item.data_type == "lookup" and item.lookup_module in NAME_FIELDS:
            builder.add(f"{item.api_name}.name")
        else:
            builder.add(item.api_name)
        if len(builder.plan().coql_columns()) >= MAX_COLUMNS - 2:
            break
    return builder.plan()


class _Builder:
    def __init__(self, deals: ModuleFields, related: dict[str, ModuleFields]) -> None:
        self.deals = deals
        self.related = related
        self.fields: dict[str, None] = dict.fromkeys(ALWAYS)
        self.embeds: dict[str, dict[str, None]] = {}
        self.owner: str | None = None
        self.owner_keys: dict[str, None] = {}
        self.unknown: list[str] = []

    def add(self, path: str) -> None:
        if path == "id":
            return
        if path.startswith(f"{DISPLAY}."):
            item = self.deals.get(path.removeprefix(f"{DISPLAY}."))
            if item is None or item.data_type not in PICKLIST_TYPES:
                self.unknown.append(path)
            else:
                self.fields[item.api_name] = None
            return
        head, _, tail = path.partition(".")
        item = self.deals.get(head)
        if item is None or (tail and item.data_type not in LOOKUP_TYPES):
            self.unknown.append(path)
            return
        self.fields[head] = None
        if not tail or tail == "id":
            return
        if item.data_type == "ownerlookup":
            self._owner(path, head, tail)
        else:
            self._related(path, item, tail)

    def _owner(self, path: str, head: str, tail: str) -> None:
        if tail not in OWNER_KEYS:
            self.unknown.append(path)
            return
        self.owner = head
        self.owner_keys[tail] = None

    def _related(self, path: str, item: ZohoField, tail: str) -> None:
        module = item.lookup_module or ""
        name_field = NAME_FIELDS.get(module)
        if tail == "name":
            if name_field is None:
                self.unknown.append(path)
                return
            self.embeds.setdefault(item.api_name, {})[name_field] = None
            return
        fields = self.related.get(item.api_name)
        sub = fields.get(tail) if fields is not None else None
        if sub is None or sub.data_type in LOOKUP_TYPES:
            self.unknown.append(path)
            return
        wanted = self.embeds.setdefault(item.api_name, {})
        wanted[tail] = None
        if name_field is not None:
            wanted[name_field] = None  # read along: it tells a deleted related record apart

    def plan(self) -> ReadPlan:
        embeds = tuple(
            Embed(
                lookup=lookup,
                module=self.deals.fields[lookup].lookup_module or "",
                fields=tuple(names),
                name_field=NAME_FIELDS.get(self.deals.fields[lookup].lookup_module or ""),
            )
            for lookup, names in self.embeds.items()
        )
        picklists = tuple(
            item
            for name in self.fields
            if (item := self.deals.get(name)) is not None and item.data_type in PICKLIST_TYPES
        )
        return ReadPlan(
            deal_fields=tuple(self.fields),
            embeds=embeds,
            owner=self.owner,
            owner_keys=tuple(self.owner_keys),
            picklists=picklists,
        )


def _unknown(
    paths: list[str], deals: ModuleFields, related: dict[str, ModuleFields]
) -> PermanentError:
    known = [info.path for info in field_infos(deals, related)]
    described = []
    for path in dict.fromkeys(paths):
        close = difflib.get_close_matches(path, known, n=1, cutoff=0.6)
        described.append(f"{path!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return PermanentError(
        f"the mapping reads field(s) that Zoho's {deals.module} fields list does not have: "
        f"{', '.join(described)}. A field renamed or deleted in Zoho changes or loses its API "
        "name; update the mapping (dealbridge validate lists every path with its line)",
        who_acts="admin",
        operation="plan",
    )
