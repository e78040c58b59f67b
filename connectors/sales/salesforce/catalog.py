"""The field catalog from sObject describes: own fields, parent paths, child-relationship paths.

``GET /services/data/vXX.X/sobjects/{name}/describe`` lists ``fields[]`` (``name``, ``type``,
``label``, ``custom``, ``length``, ``picklistValues[{value, active}]``, ``referenceTo``,
``relationshipName``) and ``childRelationships[]`` (``relationshipName``, ``childSObject``)
[restforce ``sobject_describe_success_response.json``; REST API guide "sObject Describe"].
Reference fields with a ``relationshipName`` open parent paths (``Account.Website``,
``Owner.Email``) one level deep; each configured child relationship opens
``OpportunityContactRoles.<field>`` and its own parents (``OpportunityContactRoles.Contact.Email``).
Describes are cached per connector instance: they change only when an admin edits the schema.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from connectors.base import FieldInfo
from connectors.errors import PermanentError

log = structlog.get_logger("dealbridge.salesforce")

Describe = dict[str, Any]
Fetch = Callable[[str], Awaitable[Any]]

TEXT_TYPES = frozenset({"string", "textarea", "email", "url", "phone", "picklist", "multipicklist"})
SKIPPABLE = frozenset({"NOT_FOUND", "INVALID_TYPE", "INSUFFICIENT_ACCESS"})
"""A related object the integration user cannot see is left out rather than failing."""


class Describer:
    """Fetches and caches describes by sObject name."""

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._cache: dict[str, Describe] = {}

    async def describe(self, sobject: str) -> Describe:
        """The describe of ``sobject`` (cached); vendor errors propagate."""
        if sobject not in self._cache:
            body = await self._fetch(sobject)
            self._cache[sobject] = body if isinstance(body, dict) else {}
        return self._cache[sobject]

    async def describe_related(self, sobject: str) -> Describe | None:
        """Like :meth:`describe`, but None for an object this user may not describe."""
        try:
            return await self.describe(sobject)
        except PermanentError as exc:
            if exc.vendor_code not in SKIPPABLE:
                raise
            log.warning("salesforce_describe_skipped", sobject=sobject, error=str(exc))
            return None


async def field_catalog(
    describer: Describer, sobject: str, child_relationships: tuple[str, ...]
) -> list[FieldInfo]:
    """Every readable path of ``sobject``: own fields, parents, configured children."""
    root = await describer.describe(sobject)
    infos = own_fields(root, "") + await parent_fields(describer, root, "")
    for wanted in child_relationships:
        relation = _child_relationship(root, wanted)
        if relation is None:
            log.warning("salesforce_child_relationship_unknown", sobject=sobject, name=wanted)
            continue
        child = await describer.describe_related(str(relation["childSObject"]))
        if child is None:
            continue
        prefix = f"{relation['relationshipName']}."
        infos += own_fields(child, prefix) + await parent_fields(describer, child, prefix)
    return infos


def own_fields(describe: Describe, prefix: str) -> list[FieldInfo]:
    """The object's own fields as ``prefix + name``."""
    return [field_info(prefix, raw) for raw in _fields(describe)]


async def parent_fields(describer: Describer, describe: Describe, prefix: str) -> list[FieldInfo]:
    """Fields of every parent reachable through a named relationship, one level deep."""
    infos: list[FieldInfo] = []
    for raw in _fields(describe):
        relationship, targets = raw.get("relationshipName"), raw.get("referenceTo") or []
        if not relationship or not targets:
            continue
        path = f"{prefix}{relationship}."
        if len(targets) > 1:  # polymorphic (e.g. Group or User): only common fields are queryable
            infos += [
                FieldInfo(path=f"{path}Id", type="id", label="Record ID"),
                FieldInfo(path=f"{path}Name", type="string", label="Name"),
            ]
            continue
        parent = await describer.describe_related(str(targets[0]))
        if parent is not None:
            infos += own_fields(parent, path)
    return infos


def field_info(prefix: str, raw: dict[str, Any]) -> FieldInfo:
    """One describe field as a FieldInfo; active picklist values become ``choices``."""
    kind = str(raw.get("type") or "string")
    length = raw.get("length")
    choices = tuple(
        str(value["value"])
        for value in raw.get("picklistValues") or []
        if isinstance(value, dict) and value.get("active", True) and value.get("value") is not None
    )
    return FieldInfo(
        path=f"{prefix}{raw['name']}",
        type=kind,
        label=str(raw.get("label") or raw["name"]),
        custom=bool(raw.get("custom")),
        writable=False,
        choices=choices,
        max_length=length
        if kind in TEXT_TYPES and isinstance(length, int) and length > 0
        else None,
    )


def _fields(describe: Describe) -> list[dict[str, Any]]:
    fields = describe.get("fields")
    if not isinstance(fields, list):
        return []
    return [f for f in fields if isinstance(f, dict) and isinstance(f.get("name"), str)]


def _child_relationship(describe: Describe, name: str) -> dict[str, Any] | None:
    for relation in describe.get("childRelationships") or []:
        if (
            isinstance(relation, dict)
            and str(relation.get("relationshipName") or "").lower() == name.lower()
            and relation.get("childSObject")
        ):
            return relation
    return None
