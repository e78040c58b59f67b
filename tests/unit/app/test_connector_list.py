"""``dealbridge connectors``: every registered kind, built-in or plugin, with its role and
capabilities, as a table and as JSON; read from the registry without building a connector."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors import registry
from connectors.registry import ConnectorSpec, known_kinds
from connectors.settings import ConnectorConfig, ConnectorOptions
from sync_jobs.app.cli import app
from sync_jobs.app.connector_list import describe, rows

runner = CliRunner()


class PluginDesk:
    """A plugin's target that can also open tickets for alerts."""

    async def field_catalog(self) -> list[Any]:
        return []

    async def open_ticket(self, ticket: Any, *, follows: str | None = None) -> str:
        return "1"

    async def add_internal_note(self, ticket_id: str, ticket: Any) -> str:
        return ticket_id


def _plugin_desk(name: str, config: Any, options: ConnectorOptions) -> PluginDesk:
    return PluginDesk()


CONNECTOR = ConnectorSpec(
    kind="acmedesk",
    role="target",
    config_model=ConnectorConfig,
    factory=_plugin_desk,
    label="Acme Desk",
    bulk_write="bulk PATCH, 50 a call",
)


@pytest.fixture
def with_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``dealbridge.connectors`` entry point naming this module."""
    monkeypatch.setattr(registry, "_plugin_modules", lambda: {"acmedesk": __name__})


def _json() -> list[dict[str, Any]]:
    result = runner.invoke(app, ["connectors", "--json"])
    assert result.exit_code == 0, result.output
    listed: list[dict[str, Any]] = json.loads(result.output)
    return listed


def test_every_registered_kind_is_listed_with_its_role() -> None:
    listed = {row["kind"]: row["role"] for row in _json()}
    assert set(listed) == set(known_kinds())
    for source in ("salesforce", "hubspot", "spreadsheet", "pipedrive", "dynamics", "zoho"):
        assert listed[source] == "source"
    for target in ("zendesk", "freshdesk", "servicenow", "servicecloud", "intercom"):
        assert listed[target] == "target"


def test_capabilities_come_from_the_spec_and_the_connector_class() -> None:
    by_kind = {row.kind: row for row in rows()}
    assert by_kind["zendesk"].bulk_write
    assert by_kind["servicecloud"].bulk_write
    assert by_kind["freshdesk"].bulk_write is None, "one PUT a record"
    assert by_kind["intercom"].alert_tickets, "Intercom targets implement TicketDesk"
    assert all(row.field_catalog for row in by_kind.values())
    assert "SOQL" in (by_kind["salesforce"].select_form or "")
    assert by_kind["spreadsheet"].select_form is None
    assert by_kind["spreadsheet"].contract_harness
    assert not by_kind["spreadsheet"].simulator
    assert by_kind["pipedrive"].demo_territory == "Nordics"
    assert {row.origin for row in by_kind.values()} == {"built-in"}


@pytest.mark.usefixtures("with_plugin")
def test_a_plugin_is_listed_beside_the_built_ins() -> None:
    plugin = next(row for row in _json() if row["kind"] == "acmedesk")
    assert plugin["origin"] == "plugin"
    assert plugin["label"] == "Acme Desk"
    assert plugin["alert_tickets"] is True
    assert plugin["bulk_write"] == "bulk PATCH, 50 a call"
    assert plugin["simulator"] is False


def test_an_unannotated_factory_claims_no_capability() -> None:
    spec = ConnectorSpec(
        kind="bare", role="target", config_model=ConnectorConfig, factory=lambda *_: object()
    )
    row = describe(spec)
    assert not row.field_catalog
    assert not row.alert_tickets


def test_the_table_names_every_kind() -> None:
    result = runner.invoke(app, ["connectors"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for kind in known_kinds():
        assert kind in result.output
