"""The mapping's ``select`` for Pipedrive: the list filters ``GET /api/v2/deals`` takes.

Form: ``name=value`` pairs joined by ``&`` or ``,``, e.g. ``pipeline_id=3`` or
``pipeline_id=3 & owner_id=12``, or one saved Pipedrive filter: ``filter_id=42``. Pipedrive
ignores every other filter when ``filter_id`` is given (FACTS.md §3.1), so the two are not
combined. Values are ids (whole numbers).
"""

from __future__ import annotations

import re

from connectors.errors import PermanentError

FILTERS = ("filter_id", "pipeline_id", "stage_id", "owner_id", "org_id", "person_id")
_SEPARATOR = re.compile(r"[&,]")


def parse_select(select: str | None) -> dict[str, int]:
    """The query parameters ``select`` asks for; a clear admin error for anything else."""
    if select is None or not select.strip():
        return {}
    found: dict[str, int] = {}
    for part in _SEPARATOR.split(select):
        name, equals, value = (piece.strip() for piece in part.partition("="))
        if not name and not value:
            continue
        if not equals or name not in FILTERS:
            raise _bad(
                select, f"{part.strip()!r} is not name=value with a name of {', '.join(FILTERS)}"
            )
        if not value.isdigit() or int(value) < 1:
            raise _bad(select, f"{name} must be an id (a whole number), not {value!r}")
        if name in found:
            raise _bad(select, f"{name} is given twice")
        found[name] = int(value)
    if "filter_id" in found and len(found) > 1:
        raise _bad(
            select,
            "filter_id cannot be combined with other filters (Pipedrive ignores them); put "
            "every condition into the saved filter",
        )
    return found


def _bad(select: str, problem: str) -> PermanentError:
    return PermanentError(
        f"the mapping's select {select!r} for Pipedrive: {problem} (example: pipeline_id=3 & "
        "owner_id=12, or filter_id=42)",
        who_acts="admin",
        operation="select",
    )


SELECT_LANGUAGE = (
    "Pipedrive deal-list filters: name=value pairs joined by & (pipeline_id, stage_id, "
    "owner_id, org_id, person_id), or one saved filter as filter_id"
)
SELECT_EXAMPLE = 'select: "pipeline_id=3 & owner_id=12"'


def select_problem(select: str) -> str | None:
    """What is wrong with a mapping's select as Pipedrive filters (None: it parses)."""
    if select.lstrip().startswith(("{", "[")):
        return "it looks like HubSpot's JSON filters; Pipedrive takes " + SELECT_LANGUAGE
    try:
        parse_select(select)
    except PermanentError as exc:
        return exc.message.removeprefix(f"the mapping's select {select!r} for Pipedrive: ")
    return None
