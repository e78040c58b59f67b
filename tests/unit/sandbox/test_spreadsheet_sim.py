"""The spreadsheet "simulator": demo sheets on disk, read by the real connector.

There is no vendor API to imitate, so the sandbox is a folder written the way a rep keeps it:
a BOM-prefixed CSV and a typed XLSX with its header shifted down by a blank row.
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from connectors.base import DealQuery, SalesSource, SourceDeal
from connectors.registry import get_spec
from connectors.settings import ConnectorOptions
from sandbox.demo_data import deals_for, modified_at
from sandbox.harness import ContractHarness
from sandbox.spreadsheet import COLUMNS, CSV_NAME, XLSX_NAME, contract_harness, write_demo_sheets
from sync_jobs.domain.mapping import Mapping, load_mapping_spec

pytestmark = pytest.mark.anyio

APAC_MAPPING = Path(__file__).parents[3] / "mappings" / "apac-spreadsheet.yaml"


def harness_source(harness: ContractHarness) -> SalesSource:
    spec = get_spec(harness.kind)
    config = spec.config_model.model_validate(harness.config)
    source: SalesSource = spec.factory("apac", config, ConnectorOptions())
    return source


async def read_all(source: SalesSource) -> list[SourceDeal]:
    return [d async for page in source.changed_deals(DealQuery(), None) for d in page.deals]


def test_demo_sheets_split_the_apac_deals_between_a_bom_csv_and_a_shifted_xlsx(
    tmp_path: Path,
) -> None:
    csv_path, xlsx_path = write_demo_sheets(tmp_path)
    assert (csv_path.name, xlsx_path.name) == (CSV_NAME, XLSX_NAME)
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        csv_rows = list(csv.reader(handle))
    book = openpyxl.load_workbook(xlsx_path, read_only=True)
    xlsx_rows = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    assert tuple(csv_rows[0]) == COLUMNS
    assert all(cell is None for cell in xlsx_rows[0])  # the blank row above the header
    assert tuple(xlsx_rows[1]) == COLUMNS
    ids = [row[0] for row in csv_rows[1:]] + [row[0] for row in xlsx_rows[2:]]
    assert ids == [deal.id for deal in deals_for("spreadsheet")]
    assert len(csv_rows) > 1  # each file holds at least one deal
    assert len(xlsx_rows) > 2


async def test_connector_reads_the_demo_sheets_with_the_demo_values(tmp_path: Path) -> None:
    harness = contract_harness(tmp_path)
    deals = {deal.id: deal for deal in await read_all(harness_source(harness))}
    demo = {deal.id: deal for deal in deals_for("spreadsheet")}
    assert set(deals) == set(demo)
    for deal_id, deal in deals.items():
        assert deal.modified_at == modified_at(demo[deal_id])
        assert deal.payload["_territory"] == "APAC"
    hooli, stark = deals["APAC-17"].payload, deals["APAC-18"].payload
    assert (hooli["_file"], hooli["_row"], hooli["Discount %"]) == (CSV_NAME, 2, "12.5")
    assert (stark["_file"], stark["_row"], stark["Discount %"]) == (XLSX_NAME, 3, "18%")
    assert (stark["Amount"], stark["Customer Number"]) == ("150000", "CUST-1006")


async def test_shipped_apac_mapping_maps_every_demo_deal(tmp_path: Path) -> None:
    harness = contract_harness(tmp_path)
    mapping = Mapping(
        load_mapping_spec(APAC_MAPPING),
        job="apac",
        source="apac",
        system="spreadsheet",
        territory="APAC",
        base_dir=APAC_MAPPING.parent,
    )
    terms = {deal.id: mapping.apply(deal) for deal in await read_all(harness_source(harness))}
    hooli, stark = terms["APAC-17"], terms["APAC-18"]
    assert (hooli.discount_percent, hooli.amount) == (Decimal("12.5"), Decimal("22000.00"))
    assert (stark.discount_percent, stark.payment_terms) == (Decimal(18), "net45")
    assert hooli.free_services == ("Quarterly review",)
    assert stark.account.external_ids == ("cust-1006",)
    demo = {deal.id: deal for deal in deals_for("spreadsheet")}
    assert {k: t.valid_until for k, t in terms.items()} == {k: demo[k].valid_until for k in terms}
    assert all(isinstance(t.valid_until, date) and t.active for t in terms.values())


async def test_harness_seeds_rows_sharing_one_timestamp_and_all_arrive_in_pages(
    tmp_path: Path,
) -> None:
    harness = contract_harness(tmp_path)
    assert (harness.kind, harness.app, harness.throttle_fault, harness.auth_fault) == (
        "spreadsheet",
        None,
        None,
        None,
    )
    assert harness.seed_equal_timestamps is not None
    source = harness_source(harness)
    first = [page async for page in source.changed_deals(DealQuery(), None)]
    harness.seed_equal_timestamps(12)
    pages = [page async for page in source.changed_deals(DealQuery(), first[-1].checkpoint)]
    assert [len(page.deals) for page in pages] == [5, 5, 2]
    seeded = [deal for page in pages for deal in page.deals]
    assert [d.id for d in seeded] == [f"APAC-EQ-{n:04d}" for n in range(1, 13)]
    assert len({d.modified_at for d in seeded}) == 1


async def test_harness_catalog_lists_every_demo_column_and_health_counts_rows(
    tmp_path: Path,
) -> None:
    source = harness_source(contract_harness(tmp_path))
    paths = [field.path for field in await source.field_catalog()]
    assert paths == [*COLUMNS, "_file", "_row", "_territory"]
    health = await source.check()
    assert (health.ok, health.detail) == (True, "2 file(s), 2 deal row(s)")
