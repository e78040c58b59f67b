"""The shipped Zoho mapping example: it compiles, every source path is in the simulator's
catalog, and it maps the simulated territory's deals (a bad picklist value fails one deal only).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from connectors.base import DealQuery, SourceDeal
from connectors.sales.zoho import ZohoConfig, ZohoSource
from connectors.sales.zoho.simulator import DEMO_ENV, ZohoSimulator, connector_config
from connectors.settings import ConnectorOptions
from sync_jobs.domain.mapping import Mapping, MappingFailed, load_mapping_spec
from sync_jobs.domain.model import DealTerms

pytestmark = pytest.mark.anyio

EXAMPLE = Path(__file__).resolve().parents[3] / "mappings" / "latam-zoho.yaml"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)


def compiled() -> Mapping:
    spec = load_mapping_spec(EXAMPLE)
    return Mapping(
        spec, job="latam", source="latam-zoho", system="zoho", territory="LATAM",
        base_dir=EXAMPLE.parent,
    )  # fmt: skip


def connect(sim: ZohoSimulator) -> ZohoSource:
    config = ZohoConfig.model_validate(connector_config())
    return ZohoSource(
        "latam-zoho", config, ConnectorOptions(transport=httpx.ASGITransport(sim.app))
    )


async def read(src: ZohoSource, mapping: Mapping) -> list[SourceDeal]:
    query = DealQuery(fields=mapping.source_paths(), select=mapping.spec.select)
    return [d async for page in src.changed_deals(query, None) for d in page.deals]


async def test_every_source_path_of_the_example_is_in_the_simulators_catalog() -> None:
    catalog = {f.path for f in await connect(ZohoSimulator()).field_catalog()}
    missing = [p for p in compiled().source_paths() if p not in catalog]
    assert missing == []


async def test_the_example_maps_the_territorys_deals_into_terms() -> None:
    mapping = compiled()
    deals = await read(connect(ZohoSimulator()), mapping)
    terms = {t.deal.id: t for t in (mapping.apply(d) for d in deals)}
    acme = next(t for t in terms.values() if t.name == "Acme LATAM rollout")
    assert isinstance(acme, DealTerms)
    assert acme.discount_percent == 12
    assert acme.payment_terms == "net45"
    assert acme.free_services == ("Onsite training",)
    assert acme.account.external_ids == ("cust-1001",), "identity is matched without case"
    assert acme.account.domains == ("acme.example",)
    assert acme.account.name == "Acme Corporation"
    assert acme.owner_email == "lucia.fernandes@seller.example"
    assert acme.active


async def test_a_picklist_value_the_mapping_does_not_know_fails_that_deal_only() -> None:
    sim = ZohoSimulator()
    account = sim.add_account("Hooli", "https://hooli.example", None)
    odd = sim.add_deal(
        {"Deal_Name": "Imported", "Payment_Terms": "Net 90", "Has_Special_Terms": True},
        account=account,
    )
    mapping = compiled()
    src = connect(sim)
    failed, mapped = [], []
    for deal in await read(src, mapping):
        try:
            mapped.append(mapping.apply(deal))
        except MappingFailed as exc:
            failed.append(exc)
    (problem,) = failed
    assert problem.deal_id == odd
    assert "Payment_Terms = 'Net 90'" in str(problem)
    assert len(mapped) == 5
    assert any(odd in p and "not an option" in p for p in src.problems())
