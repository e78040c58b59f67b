"""The Service Cloud mapping examples compile, and every field they write is in the catalog the
connector reads from the simulated org (what ``dealbridge validate`` checks)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from connectors.service.servicecloud import ServiceCloudConfig, ServiceCloudTarget
from connectors.service.servicecloud.simulator import (
    DEMO_ENV,
    ServiceCloudSimulator,
    connector_config,
)
from connectors.settings import ConnectorOptions
from sandbox.world import territories
from sync_jobs.config.yamlio import load_yaml
from sync_jobs.domain.mapping import load_mapping_spec
from sync_jobs.domain.notes import NoteTemplates, template_location
from sync_jobs.run.catalog import Catalog, write_field_problems
from tests.fixtures.salesforce.support import FakeSleep

pytestmark = pytest.mark.anyio

EXAMPLES = sorted((Path(__file__).parents[3] / "mappings" / "servicecloud").glob("*.yaml"))


def test_there_is_an_example_for_every_territory() -> None:
    assert [p.name for p in EXAMPLES] == sorted(t.mapping for t in territories().values())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
async def test_the_example_writes_only_fields_the_simulated_org_offers(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    spec = load_mapping_spec(path)
    folder, template = template_location(path.parent, spec.note.template)
    assert NoteTemplates(spec.note.format).check(template, folder, str(path)) == []
    sim = ServiceCloudSimulator().seed_demo()
    config = ServiceCloudConfig.model_validate(connector_config())
    options = ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=FakeSleep())
    target = ServiceCloudTarget("desk", config, options)
    catalog = await target.field_catalog()
    await target.aclose()
    assert spec.record in config.record_kinds
    kept = Catalog("servicecloud", tuple(catalog))
    assert write_field_problems(spec, kept, path, load_yaml(path)) == []
    by_path = {f.path: f for f in catalog}
    for field in spec.write:
        assert by_path[field].writable, field
    assert spec.note.field == config.note_field
    assert by_path[spec.note.field].max_length == target.text_limit
    payment = spec.write["Payment_Terms__c"]
    assert payment.map is not None
    assert set(payment.map.values()) <= set(by_path["Payment_Terms__c"].choices)
