"""The shipped Dynamics mapping against the simulator: it compiles, every path is in the catalog,
the demo deals map to the terms reps agreed, and each bad input is caught where it belongs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from connectors.base import DealQuery, SourceDeal
from connectors.sales.dynamics import DynamicsConfig, DynamicsSource
from connectors.sales.dynamics.needs import UnknownColumn
from connectors.sales.dynamics.simulator import DEMO_ENV, DynamicsSimulator, connector_config
from connectors.sales.dynamics.simulator.seed import DEALS
from connectors.settings import ConnectorOptions
from sync_jobs.app.validate import _source_paths
from sync_jobs.config.yamlio import load_yaml
from sync_jobs.domain.mapping import Mapping, MappingFailed, load_mapping_spec
from sync_jobs.domain.model import DealTerms

pytestmark = pytest.mark.anyio

MAPPING = Path(__file__).resolve().parents[3] / "mappings" / "central-dynamics.yaml"
GLOBEX, INITECH = DEALS[0].deal_id, DEALS[5].deal_id


async def _no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture
async def crm(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[DynamicsSimulator, DynamicsSource]]:
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)
    sim = DynamicsSimulator(seed=True)
    src = DynamicsSource(
        "central",
        DynamicsConfig.model_validate(connector_config()),
        ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=_no_sleep),
    )
    yield sim, src
    await src.aclose()


def mapping() -> Mapping:
    return Mapping(
        load_mapping_spec(MAPPING),
        job="central",
        source="central",
        system="dynamics",
        territory="Central",
        base_dir=MAPPING.parent,
    )


async def read_all(src: DynamicsSource, compiled: Mapping) -> dict[str, SourceDeal]:
    query = DealQuery(fields=compiled.source_paths(), select=compiled.spec.select)
    return {d.id: d async for page in src.changed_deals(query, None) for d in page.deals}


@pytest.mark.parametrize("path", [MAPPING, MAPPING.parent / "freshdesk" / MAPPING.name])
async def test_every_path_the_mapping_reads_is_in_the_simulators_catalog(
    crm: tuple[DynamicsSimulator, DynamicsSource], path: Path
) -> None:
    spec = load_mapping_spec(path)
    catalog = await crm[1].field_catalog()
    assert _source_paths(spec, catalog, path, load_yaml(path)) == []
    paths = [r.from_ for r in spec.terms.values() if r.from_] + [r.from_ for r in spec.identity]
    assert set(paths) <= {f.path for f in catalog}


async def test_the_demo_deals_map_to_the_agreed_terms(
    crm: tuple[DynamicsSimulator, DynamicsSource],
) -> None:
    compiled = mapping()
    deals = await read_all(crm[1], compiled)
    globex = compiled.apply(deals[GLOBEX])
    assert isinstance(globex, DealTerms)
    assert globex.stage == "Won"
    assert globex.active
    assert globex.discount_percent == Decimal(12)
    assert globex.payment_terms == "net45"
    assert globex.free_services == ("Priority support",)
    assert globex.account.external_ids == ("cust-1002",)
    assert globex.account.domains == ("globex.example",)
    assert globex.deal.url is not None
    assert "etn=opportunity" in globex.deal.url
    initech = compiled.apply(deals[INITECH])
    assert not initech.active, "an open deal never reaches agents"


async def test_a_column_renamed_in_dynamics_is_caught_by_validate_with_a_suggestion(
    crm: tuple[DynamicsSimulator, DynamicsSource],
) -> None:
    sim, src = crm
    sim.rename_column("opportunity", "new_specialdiscount", "new_specialdiscountpct")
    src.metadata.forget()
    compiled = mapping()
    catalog = await src.field_catalog()
    [problem] = _source_paths(compiled.spec, catalog, MAPPING, load_yaml(MAPPING))
    assert problem.key == "terms.discount_percent.from"
    assert problem.line is not None
    assert problem.hint == "did you mean 'new_specialdiscountpct'?"
    with pytest.raises(UnknownColumn, match="new_specialdiscountpct"):
        await read_all(src, compiled)


async def test_an_option_without_a_label_fails_that_deal_only_and_says_why(
    crm: tuple[DynamicsSimulator, DynamicsSource],
) -> None:
    sim, src = crm
    sim.set_option("opportunity", "new_paymentterms", 100000009, None)
    sim.update_deal(GLOBEX, new_paymentterms=100000009)
    compiled = mapping()
    deals = await read_all(src, compiled)
    with pytest.raises(MappingFailed) as caught:
        compiled.apply(deals[GLOBEX])
    assert "payment_terms (source field new_paymentterms = 100000009)" in str(caught.value)
    others = [compiled.apply(d) for i, d in deals.items() if i != GLOBEX]
    assert len(others) == len(deals) - 1
    assert any("new_paymentterms = 100000009 has no label" in p for p in src.problems())


async def test_a_deal_whose_account_was_deleted_maps_without_identity_and_is_noted(
    crm: tuple[DynamicsSimulator, DynamicsSource],
) -> None:
    sim, src = crm
    account = sim.deal(GLOBEX).values["parentaccountid"]
    sim.delete_account(account, dangling=True)
    compiled = mapping()
    deals = await read_all(src, compiled)
    terms = compiled.apply(deals[GLOBEX])
    assert terms.account.external_ids == ()
    assert terms.account.domains == (), "nothing to match on: the engine reports it unmatched"
    assert any(account in p and "no longer exists" in p for p in src.problems())


async def test_deals_without_special_terms_are_left_out_by_the_select(
    crm: tuple[DynamicsSimulator, DynamicsSource],
) -> None:
    sim, src = crm
    plain = sim.add_deal("No special terms", new_hasspecialterms=False)
    deals = await read_all(src, mapping())
    assert plain not in deals
    assert GLOBEX in deals
