"""The shipped ServiceNow mapping compiles, and every column it writes exists, is writable and
accepts the values it produces, in the simulator's catalog (read from sys_dictionary/sys_choice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.service.servicenow.simulator import ServiceNowSimulator
from sync_jobs.config.yamlio import load_yaml
from sync_jobs.domain.mapping import load_mapping_spec
from sync_jobs.domain.notes import NoteTemplates, template_location
from sync_jobs.run.catalog import Catalog, write_field_problems
from tests.unit.connectors.servicenow_kit import connect

pytestmark = pytest.mark.anyio

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings" / "servicenow"


@pytest.mark.parametrize("path", sorted(MAPPINGS.glob("*.yaml")), ids=lambda p: p.name)
async def test_the_mapping_compiles_and_writes_only_catalog_columns(path: Path) -> None:
    spec = load_mapping_spec(path)
    folder, template = template_location(path.parent, spec.note.template)
    assert NoteTemplates(spec.note.format).check(template, folder, str(path)) == []
    target = connect(ServiceNowSimulator(), record_kinds=(spec.record,))
    catalog = {f.path: f for f in await target.field_catalog()}
    for column in [*spec.write, spec.note.field]:
        assert column in catalog, f"{path.name}: {column} is not in the catalog"
        assert catalog[column].writable
    kept = Catalog("servicenow", tuple(catalog.values()))
    assert write_field_problems(spec, kept, path, load_yaml(path)) == []
    note = catalog[spec.note.field]
    assert note.max_length == target.text_limit == 4000
    await target.aclose()


async def test_a_mapping_value_outside_a_choice_list_is_caught_by_validate(tmp_path: Path) -> None:
    source = MAPPINGS / "west-salesforce.yaml"
    broken = tmp_path / "west-salesforce.yaml"
    text = source.read_text().replace('"Net 60": net60', '"Net 60": net60, "Net 90": net90')
    broken.write_text(text.replace("../templates/", str(source.parent.parent / "templates") + "/"))
    spec = load_mapping_spec(broken)
    target = connect(ServiceNowSimulator())
    catalog = Catalog("servicenow", tuple(await target.field_catalog()))
    problems = write_field_problems(spec, catalog, broken, load_yaml(broken))
    assert [p.key for p in problems] == ["write.u_payment_terms"]
    assert "'net90'" in problems[0].message
    await target.aclose()
