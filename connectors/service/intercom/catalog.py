"""The data attributes catalog: what dealbridge may write, and each value checked before it goes.

``GET /data_attributes?model=company|contact`` lists built-in and custom attributes with
``name``, ``full_name`` (``custom_attributes.<name>`` for custom ones), ``data_type``
(``string``, ``integer``, ``float``, ``boolean``, ``date``), ``options`` (list attributes),
``api_writable``, ``custom`` and ``archived`` (FACTS.md §6.1). Archived attributes are left out
unless asked for.

Intercom is loose about what it accepts (§6.2a, §6.4, §6.5): a value for an attribute that does
not exist is refused, but whether a list value outside the options, or a string over 255
characters, is refused, truncated or kept is not documented. So every value is checked here
first, and a value that does not fit is that record's failure, named, before any request:

* the path must be a custom attribute of that record kind, not archived, ``api_writable``;
* ``string`` values are text of at most ``text_max_length`` characters (255, §6.4);
* ``integer`` values whole numbers, ``float`` numbers, ``boolean`` true or false;
* a list attribute's value one of its ``options``;
* ``date`` attributes are listed but not writable: the value format Intercom expects for custom
  dates is not in the description, and a wrong guess would be rewritten on every run.

Clearing a value (``None``) sends ``""`` to a string attribute (documented to work for users and
leads, where ``null`` was refused for leads, §6.2a) and ``null`` to the other types.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import FieldInfo
from connectors.coerce import read_boolean, read_number
from connectors.desk import labelled, merged_by_name
from connectors.jsonvalue import json_value
from connectors.service.intercom.payloads import COMPANY, CONTACT, CUSTOM_PREFIX, NOTES_PATH

WRITABLE_TYPES = frozenset({"string", "integer", "float", "boolean"})
SETTINGS_PAGE = {COMPANY: "Companies", CONTACT: "People"}


class AttributeProblem(ValueError):
    """A value that cannot be written to its attribute; the message says what to do."""


class MissingAttribute(AttributeProblem):
    """The path names no data attribute of that record kind (yet)."""


@dataclass(frozen=True)
class Attribute:
    """One data attribute of one record kind."""

    kind: str
    name: str
    path: str
    data_type: str
    label: str
    custom: bool
    api_writable: bool
    archived: bool
    options: tuple[str, ...] = ()

    @property
    def writable(self) -> bool:
        """Whether dealbridge writes it: a live, API-writable custom attribute of a known type."""
        return (
            self.custom
            and self.api_writable
            and not self.archived
            and self.data_type in WRITABLE_TYPES
        )


def parse_attributes(kind: str, raw: Any) -> dict[str, Attribute]:
    """A ``data_attribute_list`` body as attributes by path (junk items are skipped)."""
    items = raw.get("data") if isinstance(raw, dict) else None
    found: dict[str, Attribute] = {}
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        name = item["name"]
        custom = item.get("custom") is True
        path = str(item.get("full_name") or (CUSTOM_PREFIX + name if custom else name))
        found[path] = Attribute(
            kind=kind,
            name=name,
            path=path,
            data_type=str(item.get("data_type") or "string"),
            label=str(item.get("label") or name),
            custom=custom,
            api_writable=item.get("api_writable") is True,
            archived=item.get("archived") is True,
            options=tuple(str(o) for o in item.get("options") or () if o is not None),
        )
    return found


class AttributeCatalog:
    """Both kinds' attributes, as the workspace defines them now."""

    def __init__(
        self,
        attributes: Mapping[str, Mapping[str, Attribute]],
        *,
        text_max_length: int,
        contact_notes: int | None,
    ) -> None:
        self._by_kind = attributes
        self.text_max_length = text_max_length
        self.contact_notes = contact_notes
        """The contact note's limit when the note lives in contact notes, else None."""

    def field_infos(self) -> list[FieldInfo]:
        """One entry per path; a path both kinds have says so in its label."""
        entries = (
            (kind, attribute.path, attribute)
            for kind, attributes in self._by_kind.items()
            for attribute in attributes.values()
        )
        infos = [self._info(attribute, kinds) for attribute, kinds in merged_by_name(entries)]
        if self.contact_notes is not None:
            infos.append(
                FieldInfo(
                    path=NOTES_PATH,
                    type="note",
                    label="Contact note, added as a new note on every change (contact)",
                    writable=True,
                    max_length=self.contact_notes,
                )
            )
        return infos

    def _info(self, attribute: Attribute, kinds: list[str]) -> FieldInfo:
        return FieldInfo(
            path=attribute.path,
            type=attribute.data_type,
            label=labelled(attribute.label, sorted(set(kinds))),
            custom=attribute.custom,
            writable=attribute.writable,
            choices=attribute.options,
            max_length=self.text_max_length if attribute.data_type == "string" else None,
        )

    def prepare(self, kind: str, name: str, value: Any) -> Any:
        """The JSON value to send for custom attribute ``name``, or :class:`AttributeProblem`."""
        attribute = self._by_kind.get(kind, {}).get(CUSTOM_PREFIX + name)
        where = f"custom_attributes.{name}"
        if attribute is None:
            raise MissingAttribute(
                f"{where} is not a {kind} data attribute in this Intercom workspace; create it "
                f"under Settings > Data > {SETTINGS_PAGE.get(kind, kind)} or fix the mapping's "
                "write path (Intercom only stores values of attributes that exist)"
            )
        if not attribute.writable:
            raise AttributeProblem(f"{where} is not writable by dealbridge: {_why(attribute)}")
        if value is None:
            return "" if attribute.data_type == "string" else None
        sent = _typed(attribute, json_value(value), self.text_max_length)
        if attribute.options and str(sent).strip() not in attribute.options:
            raise AttributeProblem(
                f"{where} = {value!r} is not one of its options "
                f"({', '.join(attribute.options)}); add it to the list attribute in Intercom or "
                "map the value to one of them"
            )
        return sent


def _why(attribute: Attribute) -> str:
    if not attribute.custom:
        return "it is a built-in attribute (dealbridge writes custom attributes only)"
    if attribute.archived:
        return "it is archived in Intercom; unarchive it or change the mapping"
    if not attribute.api_writable:
        return "Intercom does not let the API write it"
    return (
        f"its data type is {attribute.data_type!r}; dealbridge writes string, integer, float "
        "and boolean attributes (use a string attribute for dates)"
    )


def _typed(attribute: Attribute, value: Any, text_max: int) -> Any:
    where = f"custom_attributes.{attribute.name}"
    kind = attribute.data_type
    if kind == "string":
        text = _as_text(value)
        if len(text) > text_max:
            raise AttributeProblem(
                f"{where} would be {len(text)} characters; Intercom string attributes hold at "
                f"most {text_max} (FACTS.md §6.4); shorten the value"
            )
        return text
    if kind == "boolean":
        flag = read_boolean(value)
        if flag is None:
            raise AttributeProblem(
                f"{where} is a boolean attribute; {value!r} is not true or false"
            )
        return flag
    number = read_number(value)
    if number is None:
        raise AttributeProblem(f"{where} is a{'n' if kind == 'integer' else ''} {kind} "
                               f"attribute; {value!r} is not a number")  # fmt: skip
    if kind == "integer":
        if number != number.to_integral_value():
            raise AttributeProblem(f"{where} is an integer attribute; {value!r} is not whole")
        return int(number)
    return float(number)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_as_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


Loader = Callable[[str], Awaitable[Any]]
"""Fetches one kind's ``data_attribute_list`` body."""


class CatalogCache:
    """The catalog, fetched when first needed and again after ``ttl`` seconds."""

    def __init__(
        self,
        load: Loader,
        kinds: Iterable[str],
        *,
        ttl: float,
        text_max_length: int,
        contact_notes: int | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._kinds = tuple(k for k in (COMPANY, CONTACT) if k in set(kinds))
        self._ttl = ttl
        self._text_max = text_max_length
        self._contact_notes = contact_notes
        self._clock = clock
        self._catalog: AttributeCatalog | None = None
        self._loaded_at = 0.0

    async def get(self, *, fresh: bool = False) -> AttributeCatalog:
        """The catalog, from cache while younger than the TTL (``fresh`` fetches it now)."""
        if fresh or self._catalog is None or self._clock() - self._loaded_at > self._ttl:
            attributes = {
                kind: parse_attributes(kind, await self._load(kind)) for kind in self._kinds
            }
            self._catalog = AttributeCatalog(
                attributes, text_max_length=self._text_max, contact_notes=self._contact_notes
            )
            self._loaded_at = self._clock()
        return self._catalog
