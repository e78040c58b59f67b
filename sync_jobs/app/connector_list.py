"""``dealbridge connectors``: every registered kind with its role and what it can do.

Read from the registry alone (built-ins and ``dealbridge.connectors`` plugins): what a spec
declares (bulk endpoint, webhook verifier, select form, simulator, contract harness) and what its
connector class implements (the field catalog; tickets and internal notes for alerts, the
``TicketDesk`` capability of :mod:`connectors.base`). No connector is built, no request made.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from connectors.base import TicketDesk
from connectors.registry import ConnectorSpec, get_spec, known_kinds, origin


@dataclass(frozen=True)
class ConnectorRow:
    """One kind as ``dealbridge connectors`` shows it."""

    kind: str
    role: str
    label: str
    origin: str
    bulk_write: str | None
    webhook: str | None
    """The verifier of the vendor's change notifications (``POST /hooks/<job>``), if any."""
    field_catalog: bool
    alert_tickets: bool
    """Alerts can become tickets with internal notes on this desk (``TicketDesk``)."""
    select_form: str | None
    simulator: bool
    contract_harness: bool
    demo_territory: str | None
    """Sources: the territory the demo world can run from it (``dealbridge demo``)."""


def connector_class(spec: ConnectorSpec) -> type[Any] | None:
    """The class ``spec.factory`` builds: the factory itself when it is that class, else what
    its return annotation names (None: not annotated)."""
    if inspect.isclass(spec.factory):
        return spec.factory
    try:
        returned = typing.get_type_hints(spec.factory).get("return")
    except (NameError, TypeError):  # an annotation that does not resolve: say nothing
        return None
    return returned if inspect.isclass(returned) else None


def _implements(cls: type[Any] | None, protocol: type[Any]) -> bool:
    if cls is None:
        return False
    wanted = [name for name in vars(protocol) if not name.startswith("_")]
    return all(callable(getattr(cls, name, None)) for name in wanted)


def describe(spec: ConnectorSpec) -> ConnectorRow:
    """What ``spec`` declares and its connector class implements."""
    cls = connector_class(spec)
    demo = spec.demo
    return ConnectorRow(
        kind=spec.kind,
        role=spec.role,
        label=spec.label or spec.kind,
        origin=origin(spec.kind),
        bulk_write=spec.bulk_write,
        webhook=spec.webhook,
        field_catalog=cls is not None and callable(getattr(cls, "field_catalog", None)),
        alert_tickets=spec.role == "target" and _implements(cls, TicketDesk),
        select_form=spec.select.language if spec.select else None,
        simulator=spec.simulator is not None or bool(demo and demo.simulator),
        contract_harness=spec.contract_harness is not None,
        demo_territory=demo.territory.territory if demo and demo.territory else None,
    )


def rows() -> list[ConnectorRow]:
    """Every registered kind, sources first, each role by kind."""
    found = [describe(get_spec(kind)) for kind in known_kinds()]
    return sorted(found, key=lambda row: (row.role != "source", row.kind))


def as_json(found: list[ConnectorRow]) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts (``--json``)."""
    return [asdict(row) for row in found]


def _mark(value: bool | str | None) -> str:
    """Short, so the table fits a terminal; ``--json`` has the full text."""
    return "yes" if value else "-"


def print_table(console: Console, found: list[ConnectorRow]) -> None:
    """The rows as a terminal table."""
    table = Table(title="Registered connectors (details: --json)", show_lines=False)
    for column in (
        "kind",
        "role",
        "system",
        "bulk write",
        "webhooks",
        "catalog",
        "alert tickets",
        "select",
        "simulator",
        "contract",
        "demo territory",
        "origin",
    ):
        table.add_column(column, overflow="fold")
    for row in found:
        table.add_row(
            row.kind,
            row.role,
            row.label,
            _mark(row.bulk_write) if row.role == "target" else "",
            _mark(row.webhook),
            _mark(row.field_catalog),
            _mark(row.alert_tickets) if row.role == "target" else "",
            _mark(row.select_form) if row.role == "source" else "",
            _mark(row.simulator),
            _mark(row.contract_harness),
            row.demo_territory or "-" if row.role == "source" else "",
            row.origin,
        )
    console.print(table)
