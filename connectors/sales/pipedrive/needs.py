"""What a mapping's paths require: which related records and which custom-field catalogs.

Organizations, persons and owners are fetched only when a path reaches them, and a catalog only
when a path reads that entity's custom fields: each saves tokens (FACTS.md §7.2). No paths at all
(no mapping yet, the contract checks) means everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PREFIXES = {"deal": "", "organization": "organization.", "person": "person."}
"""Payload prefix of each entity's fields."""


@dataclass(frozen=True)
class Needs:
    """Related records and catalogs one read needs, and the custom paths it reads."""

    organization: bool
    person: bool
    owner: bool
    catalogs: frozenset[str]
    custom_paths: dict[str, tuple[str, ...]]
    """Entity -> the custom-field path names the mapping reads (to check they still exist)."""

    @classmethod
    def from_paths(cls, paths: Iterable[str]) -> Needs:
        """Read the mapping's dotted paths."""
        paths = tuple(paths)
        if not paths:
            return cls(True, True, True, frozenset(PREFIXES), {})
        custom = {
            entity: tuple(
                dict.fromkeys(
                    p.removeprefix(f"{prefix}custom_fields.").split(".")[0]
                    for p in paths
                    if p.startswith(f"{prefix}custom_fields.")
                )
            )
            for entity, prefix in PREFIXES.items()
        }
        return cls(
            organization=_reaches(paths, "organization"),
            person=_reaches(paths, "person"),
            owner=_reaches(paths, "owner"),
            catalogs=frozenset(entity for entity, names in custom.items() if names),
            custom_paths={entity: names for entity, names in custom.items() if names},
        )


def _reaches(paths: tuple[str, ...], name: str) -> bool:
    return any(p == name or p.startswith(f"{name}.") for p in paths)
