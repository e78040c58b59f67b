"""The mapping's paths -> the columns to ``$select`` and the navigation properties to ``$expand``.

A path is a deal column (``new_specialdiscount``, ``_ownerid_value``) or a configured navigation
property and one of its target's columns (``parentaccountid.websiteurl``). Every path is checked
against the tables' metadata before any deal is read: a column renamed or deleted in Dynamics
stops the job with the path, the table and the closest existing name, instead of a 400 from
Dataverse or a value that silently goes missing. No paths at all (a catalog or contract check)
means every column of the deal and of each configured navigation property.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from connectors.errors import PermanentError
from connectors.sales.dynamics import odata
from connectors.sales.dynamics.metadata import TableSchema

ALWAYS = ("modifiedon",)
"""Selected on every read: the change time orders and dates each deal (the key always comes)."""


class UnknownColumn(PermanentError):
    """A mapping path names a column the table does not have (renamed or deleted)."""

    who_acts = "admin"


@dataclass(frozen=True)
class ReadPlan:
    """What one read asks for."""

    columns: tuple[str, ...] | None
    """Deal columns for ``$select``; None selects every column."""
    related: dict[str, tuple[str, ...] | None]
    """Navigation property -> its columns for ``$expand`` (None: every column)."""

    def params(self) -> dict[str, str]:
        """``$select`` and ``$expand`` query parameters for a read of deals."""
        params: dict[str, str] = {}
        if self.columns is not None:
            params["$select"] = ",".join(self.columns)
        if self.related:
            params["$expand"] = ",".join(
                odata.expand(name, cols) for name, cols in sorted(self.related.items())
            )
        return params

    @property
    def navigations(self) -> tuple[str, ...]:
        """The navigation properties this read expands."""
        return tuple(sorted(self.related))


def navigations_of(paths: Iterable[str], configured: Iterable[str]) -> tuple[str, ...]:
    """The configured navigation properties the paths reach (all of them when none given)."""
    paths, configured = tuple(paths), tuple(configured)
    if not paths:
        return configured
    return tuple(n for n in configured if any(p.startswith(f"{n}.") for p in paths))


def plan_read(
    paths: Iterable[str], deals: TableSchema, related: Mapping[str, TableSchema]
) -> ReadPlan:
    """The read for these mapping paths; raises :class:`UnknownColumn` for a missing one."""
    paths = tuple(dict.fromkeys(paths))
    if not paths:
        return ReadPlan(columns=None, related=dict.fromkeys(related))
    columns: list[str] = [*ALWAYS]
    expanded: dict[str, list[str]] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        if head in related and rest:
            _check(path, rest, related[head], f"{head} ({related[head].logical_name})")
            expanded.setdefault(head, []).append(rest)
            lookup = f"_{head}_value"
            if deals.column(lookup) is not None:
                columns.append(lookup)  # tells a missing related row from an empty lookup
            continue
        _check(path, path, deals, deals.logical_name)
        columns.append(path)
    return ReadPlan(
        columns=tuple(dict.fromkeys(columns)),
        related={name: tuple(dict.fromkeys(cols)) for name, cols in expanded.items()},
    )


def _check(path: str, column: str, schema: TableSchema, where: str) -> None:
    if schema.column(column) is not None:
        return
    known = list(schema.columns)
    close = difflib.get_close_matches(column, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else "check the column's logical name"
    if "." in column:
        hint = "only one navigation step is readable (e.g. parentaccountid.websiteurl)"
    raise UnknownColumn(
        f"the mapping reads {path!r}, but {where} has no readable column {column!r} "
        f"(renamed or deleted in Dynamics?); {hint} Fix the mapping, then run dealbridge validate",
        operation="plan read",
    )
