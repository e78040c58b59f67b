"""Spreadsheet source, reading: CSV and XLSX sheets become deals keyed by their id column."""

from __future__ import annotations

import gc
import re
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from connectors.base import DealQuery, SalesSource
from connectors.errors import PermanentError
from connectors.registry import get_spec
from connectors.sales.spreadsheet import SpreadsheetConfig, SpreadsheetSource
from connectors.settings import ConnectorOptions
from tests.fixtures.spreadsheet import (
    HEADER,
    deal_row,
    excel_datetime,
    fixture,
    make_source,
    read_deals,
    read_pages,
    set_mtime,
    write_csv,
    write_xlsx,
)

pytestmark = pytest.mark.anyio


# --- config and registry ---------------------------------------------------------------------


def test_registry_builds_a_sales_source_from_a_path_only_config(tmp_path: Path) -> None:
    spec = get_spec("spreadsheet")
    config = spec.config_model.model_validate({"kind": "spreadsheet", "path": str(tmp_path)})
    source = spec.factory("apac", config, ConnectorOptions())
    assert isinstance(source, SpreadsheetSource)
    typed: SalesSource = source  # mypy --strict checks the class against the protocol here
    assert isinstance(typed, SalesSource)
    assert (spec.role, source.system, config.base_url) == ("source", "spreadsheet", "file:")
    assert isinstance(config, SpreadsheetConfig)
    assert (config.id_column, config.encoding, config.page_size) == ("Deal ID", "utf-8-sig", 500)


def test_config_refuses_unknown_keys_encodings_and_non_strptime_date_formats() -> None:
    base = {"kind": "spreadsheet", "path": "/sheets"}
    with pytest.raises(ValidationError, match="sheet_name"):
        SpreadsheetConfig.model_validate({**base, "sheet_name": "Deals"})
    with pytest.raises(ValidationError, match="unknown encoding 'utf-9'"):
        SpreadsheetConfig.model_validate({**base, "encoding": "utf-9"})
    with pytest.raises(ValidationError, match="not a strptime format"):
        SpreadsheetConfig.model_validate({**base, "date_format": "DD/MM/YYYY"})


def test_config_path_expands_the_home_folder() -> None:
    config = SpreadsheetConfig.model_validate({"kind": "spreadsheet", "path": "~/apac"})
    assert config.path == Path.home() / "apac"


# --- CSV -------------------------------------------------------------------------------------


async def test_excel_utf8_csv_rows_become_deals_with_header_text_keys_and_location(
    tmp_path: Path,
) -> None:
    path = fixture("excel-csv-utf8-bom.csv", tmp_path)
    deals = {d.id: d for d in await read_deals(make_source(path))}
    assert set(deals) == {"APAC-17", "APAC-21", "APAC-22"}
    oceane = deals["APAC-21"]
    assert oceane.payload["Deal ID"] == "APAC-21"  # the BOM is not glued to the first header
    assert oceane.payload["Deal Name"] == "Société Océane, renewal"
    assert oceane.payload["Amount"] == "1,250.00"  # typing numbers is the mapping's job
    assert oceane.payload["Free Services"] == "Onsite training;Priority support"
    assert (oceane.payload["_file"], oceane.payload["_row"]) == ("excel-csv-utf8-bom.csv", 3)
    assert oceane.url == f"{path.absolute().as_uri()}#row=3"
    assert deals["APAC-22"].payload["Discount %"] == ""
    assert not any(d.deleted for d in deals.values())


async def test_bom_is_dropped_even_when_encoding_is_plain_utf8(tmp_path: Path) -> None:
    path = fixture("excel-csv-utf8-bom.csv", tmp_path)
    deals = await read_deals(make_source(path, encoding="utf-8"))
    assert "Deal ID" in deals[0].payload
    assert not any(key.startswith("\ufeff") for key in deals[0].payload)


async def test_semicolon_delimiter_is_detected_and_quoted_semicolons_stay_in_the_cell(
    tmp_path: Path,
) -> None:
    path = fixture("excel-semicolon-decimal-comma.csv", tmp_path)
    deals = {d.id: d.payload for d in await read_deals(make_source(path))}
    assert deals["APAC-31"]["Amount"] == "22.000,00"
    assert deals["APAC-31"]["Account"] == "Grün Logistik GmbH"
    assert deals["APAC-32"]["Deal Name"] == "Müller; Sohn"


async def test_configured_delimiter_is_used_as_given(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "tabs.csv", [deal_row("T-1")], delimiter="\t")
    deals = await read_deals(make_source(path, delimiter="\t"))
    assert [(d.id, d.payload["Account"]) for d in deals] == [("T-1", "Acme Corporation")]


async def test_shifted_header_below_a_title_and_a_blank_row_is_found(tmp_path: Path) -> None:
    path = fixture("shifted-header.csv", tmp_path)
    deals = await read_deals(make_source(path))
    assert [(d.id, d.payload["_row"]) for d in deals] == [("APAC-41", 4), ("APAC-42", 5)]
    assert "" not in deals[0].payload  # trailing blank header cells are not columns


async def test_header_row_setting_pins_the_header_to_that_row(tmp_path: Path) -> None:
    rows = [["Deal ID", "Note"], ["not a deal", "a legend row"], list(HEADER), deal_row("P-1")]
    path = write_csv(tmp_path / "pinned.csv", rows, header=())
    deals = await read_deals(make_source(path, header_row=3))
    assert [(d.id, d.payload["_row"]) for d in deals] == [("P-1", 4)]


async def test_header_is_matched_ignoring_case_and_spaces_but_kept_as_written(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "loose.csv", [["L-1", "Acme"]], header=(" deal  id ", "Account"))
    deals = await read_deals(make_source(path))
    assert deals[0].id == "L-1"
    assert deals[0].payload["deal  id"] == "L-1"


async def test_sheet_without_the_id_column_fails_that_file_naming_columns_and_closest_match(
    tmp_path: Path,
) -> None:
    write_csv(tmp_path / "a-renamed.csv", [["X-1", "Acme"]], header=("DealID", "Account"))
    write_csv(tmp_path / "b-good.csv", [deal_row("B-1")])
    source = make_source(tmp_path)
    deals = await read_deals(source)
    assert [d.id for d in deals] == ["B-1"]  # the other file goes on
    [problem] = source.problems()
    assert problem.startswith("a-renamed.csv: no column 'Deal ID' in the first 10 rows")
    assert "columns found: 'DealID', 'Account'" in problem
    assert "did you mean 'DealID'?" in problem


async def test_when_no_sheet_can_be_read_the_admin_gets_a_permanent_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "only.csv", [["X-1"]], header=("Opportunity",))
    with pytest.raises(
        PermanentError, match=re.escape("no sheet could be read: only.csv")
    ) as caught:
        await read_deals(make_source(path))
    assert caught.value.who_acts == "admin"


async def test_missing_path_is_a_permanent_error_and_an_unhealthy_check(tmp_path: Path) -> None:
    source = make_source(tmp_path / "gone")
    with pytest.raises(PermanentError, match="gone does not exist") as caught:
        await read_deals(source)
    assert caught.value.who_acts == "admin"
    health = await source.check()
    assert not health.ok
    assert "does not exist" in health.detail


async def test_empty_folder_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match=r"holds no \.csv or \.xlsx sheets"):
        await read_deals(make_source(tmp_path))


async def test_undecodable_csv_fails_that_file_with_the_encoding_fix(tmp_path: Path) -> None:
    write_csv(tmp_path / "a-windows.csv", [deal_row("W-1", "Café Noir")], encoding="cp1252")
    write_csv(tmp_path / "b-good.csv", [deal_row("B-1")])
    source = make_source(tmp_path)
    assert [d.id for d in await read_deals(source)] == ["B-1"]
    [problem] = source.problems()
    assert "a-windows.csv: not valid utf-8-sig text (byte 0xe9" in problem
    assert "set encoding, e.g. cp1252" in problem
    cp1252 = await read_deals(make_source(tmp_path / "a-windows.csv", encoding="cp1252"))
    assert cp1252[0].payload["Account"] == "Café Noir"


async def test_a_cell_past_the_csv_modules_default_limit_is_read(tmp_path: Path) -> None:
    """A person pastes a long text into a cell: the csv module refuses cells past 128 KiB."""
    write_csv(tmp_path / "long.csv", [deal_row("L-1", account="A" * 200_000), deal_row("L-2")])
    deals = await read_deals(make_source(tmp_path))
    assert [d.id for d in deals] == ["L-1", "L-2"]
    assert len(deals[0].payload["Account"]) == 200_000


async def test_a_cell_past_every_limit_fails_that_file_naming_the_line(tmp_path: Path) -> None:
    write_csv(tmp_path / "a-huge.csv", [deal_row("H-1"), deal_row("H-2", account="A" * 17_000_000)])
    write_csv(tmp_path / "b-good.csv", [deal_row("B-1")])
    source = make_source(tmp_path)
    assert [d.id for d in await read_deals(source)] == ["B-1"]
    [problem] = source.problems()
    assert problem.startswith("a-huge.csv line 3: not readable as CSV (field larger than field")


async def test_folder_reads_sheets_only_skipping_lock_files_and_dotfiles(tmp_path: Path) -> None:
    write_csv(tmp_path / "deals.csv", [deal_row("D-1")])
    write_xlsx(tmp_path / "more.XLSX", [list(HEADER), deal_row("D-2")])
    (tmp_path / "~$more.xlsx").write_bytes(b"\x00owner lock, not a zip")
    (tmp_path / ".~lock.more.xlsx#").write_text("LibreOffice lock")
    write_csv(tmp_path / ".draft.csv", [deal_row("HIDDEN")])
    (tmp_path / "notes.txt").write_text("Deal ID\nNOT-A-DEAL\n")
    (tmp_path / "subfolder").mkdir()
    write_csv(tmp_path / "subfolder" / "nested.csv", [deal_row("NESTED")])
    source = make_source(tmp_path)
    assert sorted(d.id for d in await read_deals(source)) == ["D-1", "D-2"]
    assert source.problems() == []


async def test_legacy_xls_is_reported_instead_of_silently_ignored(tmp_path: Path) -> None:
    write_csv(tmp_path / "deals.csv", [deal_row("D-1")])
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    source = make_source(tmp_path)
    await read_deals(source)
    assert source.problems() == ["old.xls: legacy .xls is not read; save it as .xlsx"]


async def test_entirely_blank_rows_are_skipped_without_a_problem(tmp_path: Path) -> None:
    rows = [deal_row("E-1"), ["", "", "", "", ""], [], deal_row("E-2")]
    source = make_source(write_csv(tmp_path / "gaps.csv", rows))
    assert [(d.id, d.payload["_row"]) for d in await read_deals(source)] == [
        ("E-1", 2),
        ("E-2", 5),
    ]
    assert source.problems() == []


async def test_repeated_header_uses_the_first_column_and_reports_the_other(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path / "twice.csv", [["R-1", "10", "99"]], header=("Deal ID", "Amount", "amount")
    )
    source = make_source(path)
    [deal] = await read_deals(source)
    assert deal.payload["Amount"] == "10"
    assert "amount" not in deal.payload
    assert source.problems() == [
        "twice.csv: column 'amount' appears twice (B and C); column C is ignored"
    ]


async def test_ragged_rows_read_missing_cells_as_blank(tmp_path: Path) -> None:
    source = make_source(write_csv(tmp_path / "short.csv", [["S-1", "Acme"]]))
    [deal] = await read_deals(source)
    assert (deal.payload["Account"], deal.payload["Amount"]) == ("Acme", "")


# --- XLSX ------------------------------------------------------------------------------------


async def test_xlsx_cells_read_as_iso_dates_and_plain_decimals(tmp_path: Path) -> None:
    header = ["Deal ID", "Amount", "Discount %", "Rate", "Valid Until", "Signed", "Approved", "Big"]
    row = [
        "X-1",
        22000.0,
        0.125,
        12.499999999999998,  # float noise from a formula like =25/2-1E-15
        excel_datetime(2027, 5, 22),  # a date cell: Excel has no date-only type
        excel_datetime(2026, 11, 20, 9, 30, 0, 999_000),
        True,
        1234567890123,
    ]
    path = write_xlsx(tmp_path / "typed.xlsx", [header, row], formats={(2, 3): "0.0%"})
    [deal] = await read_deals(make_source(path))
    assert {k: v for k, v in deal.payload.items() if not k.startswith("_")} == {
        "Deal ID": "X-1",
        "Amount": "22000",
        "Discount %": "12.5%",
        "Rate": "12.5",
        "Valid Until": "2027-05-22",
        "Signed": "2026-11-20T09:30:01",
        "Approved": "true",
        "Big": "1234567890123",
    }


async def test_xlsx_numeric_ids_read_as_plain_text(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "numbers.xlsx", [["Deal ID", "Account"], [1017, "Hooli"]])
    [deal] = await read_deals(make_source(path))
    assert deal.id == "1017"


async def test_xlsx_formula_without_a_cached_value_reads_blank(tmp_path: Path) -> None:
    # openpyxl data_only gives the value Excel last saved; a never-calculated workbook has none.
    path = write_xlsx(tmp_path / "formula.xlsx", [["Deal ID", "Amount"], ["F-1", "=10*2"]])
    [deal] = await read_deals(make_source(path))
    assert deal.payload["Amount"] == ""


async def test_xlsx_shifted_header_keeps_excel_row_numbers(tmp_path: Path) -> None:
    rows: list[list[Any]] = [["APAC deals"], [], list(HEADER), [None] * 5, deal_row("X-9")]
    path = write_xlsx(tmp_path / "shifted.xlsx", rows)
    [deal] = await read_deals(make_source(path))
    assert (deal.id, deal.payload["_row"]) == ("X-9", 5)


async def test_xlsx_named_sheet_is_read_and_a_missing_one_lists_the_sheets(
    tmp_path: Path,
) -> None:
    path = write_xlsx(tmp_path / "book.xlsx", [["Summary"]], sheet="Summary", extra_sheets=["Q4"])
    with pytest.raises(
        PermanentError, match=re.escape("book.xlsx: no sheet 'Deals'; sheets: Summary, Q4")
    ):
        await read_deals(make_source(path, sheet="Deals"))
    with pytest.raises(PermanentError, match=re.escape("book.xlsx: no column 'Deal ID'")):
        await read_deals(make_source(path, sheet="Q4"))  # the named (empty) sheet is the one read


async def test_half_saved_xlsx_fails_that_file_only(tmp_path: Path) -> None:
    (tmp_path / "a-broken.xlsx").write_bytes(b"PK\x03\x04 truncated while Excel saved it")
    write_csv(tmp_path / "b-good.csv", [deal_row("B-1")])
    source = make_source(tmp_path)
    assert [d.id for d in await read_deals(source)] == ["B-1"]
    assert source.problems()[0].startswith("a-broken.xlsx: cannot open as an .xlsx workbook")


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t></is></c></row></sheetData></worksheet>'
)
"""A sheet declaring XML entities: eight of them here; nested nine deep, a billion."""


@pytest.mark.parametrize(
    ("part", "xml"),
    [
        ("xl/worksheets/sheet1.xml", b"<worksheet><sheetData><row><c"),  # cut off mid-save
        ("xl/workbook.xml", b"<workbook"),
        ("xl/styles.xml", b"<styleSheet><<"),
        ("xl/worksheets/sheet1.xml", LAUGHS),
    ],
)
async def test_an_xlsx_with_broken_or_entity_laden_xml_fails_that_file_only(
    tmp_path: Path, part: str, xml: bytes
) -> None:
    whole = write_xlsx(tmp_path / "whole.xlsx", [list(HEADER), deal_row("X-1")])
    with zipfile.ZipFile(whole) as book:
        parts = {name: book.read(name) for name in book.namelist()}
    whole.unlink()
    with zipfile.ZipFile(tmp_path / "a-broken.xlsx", "w") as broken:
        for name, data in parts.items():
            broken.writestr(name, xml if name == part else data)
    write_csv(tmp_path / "b-good.csv", [deal_row("B-1")])
    source = make_source(tmp_path)
    gc.disable()  # a file left open in a garbage cycle stays open until the test looks
    try:
        assert [d.id for d in await read_deals(source)] == ["B-1"]
        assert open_files_named("a-broken.xlsx") == [], "the failed read closed its file"
    finally:
        gc.enable()
    assert source.problems()[0].startswith("a-broken.xlsx: cannot open as an .xlsx workbook")


def open_files_named(name: str) -> list[str]:
    """This process's open files called ``name`` (Linux: /proc/self/fd)."""
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("no /proc/self/fd on this platform to see the open files")
    found = []
    for fd in fds.iterdir():
        try:
            target = str(fd.readlink())
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
        if target.endswith("/" + name):
            found.append(target)
    return found


# --- modified_at -----------------------------------------------------------------------------


async def test_modified_column_accepts_iso_datetimes_offsets_and_dates_as_utc(
    tmp_path: Path,
) -> None:
    path = fixture("excel-csv-utf8-bom.csv", tmp_path)
    deals = {d.id: d for d in await read_deals(make_source(path, modified_column="Last Modified"))}
    assert deals["APAC-17"].modified_at == datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
    assert deals["APAC-21"].modified_at == datetime(2026, 11, 21, tzinfo=UTC)
    assert deals["APAC-22"].modified_at == datetime(2026, 11, 21, 3, 40, tzinfo=UTC)


async def test_date_format_reads_day_first_dates_that_iso_would_refuse(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "au.csv", [deal_row("AU-1", modified="23/11/2026")])
    deals = await read_deals(
        make_source(path, modified_column="Last Modified", date_format="%d/%m/%Y")
    )
    assert deals[0].modified_at == datetime(2026, 11, 23, tzinfo=UTC)


async def test_unreadable_modified_date_falls_back_to_mtime_and_names_the_cell(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "dates.csv", [deal_row("D-1", modified="23/11/2026")])
    set_mtime(path, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    source = make_source(path, modified_column="Last Modified")
    [deal] = await read_deals(source)
    assert deal.modified_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    [problem] = source.problems()
    assert problem.startswith("dates.csv row 2 column 'Last Modified': '23/11/2026' is not a date")


async def test_without_modified_column_modified_at_is_the_file_mtime(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "plain.csv", [deal_row("M-1")])
    set_mtime(path, datetime(2026, 11, 1, 8, 0, tzinfo=UTC))
    [deal] = await read_deals(make_source(path))
    assert deal.modified_at == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


async def test_xlsx_datetime_cells_drive_modified_at(tmp_path: Path) -> None:
    rows: list[list[Any]] = [
        ["Deal ID", "Last Modified"],
        ["X-1", excel_datetime(2026, 11, 20, 10, 0)],  # naive in the file: read as UTC
        ["X-2", date(2026, 11, 21)],
    ]
    path = write_xlsx(tmp_path / "mod.xlsx", rows)
    deals = await read_deals(make_source(path, modified_column="Last Modified"))
    assert [d.modified_at for d in deals] == [
        datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 21, tzinfo=UTC),
    ]


# --- catalog, check, query, logs -------------------------------------------------------------


async def test_field_catalog_is_the_union_of_headers_plus_location_fields(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [["A-1", "Acme"]], header=("Deal ID", "Account"))
    write_xlsx(tmp_path / "b.xlsx", [["Deal ID", "Amount", "Account"], ["B-1", 5, "Hooli"]])
    fields = await make_source(tmp_path, territory="APAC").field_catalog()
    assert [(f.path, f.type) for f in fields] == [
        ("Deal ID", "text"),
        ("Account", "text"),
        ("Amount", "text"),
        ("_file", "text"),
        ("_row", "integer"),
        ("_territory", "text"),
    ]


async def test_check_counts_files_and_deal_rows(tmp_path: Path) -> None:
    write_csv(tmp_path / "a.csv", [deal_row("A-1"), deal_row("A-2")])
    write_xlsx(tmp_path / "b.xlsx", [list(HEADER), deal_row("B-1")])
    health = await make_source(tmp_path).check()
    assert (health.ok, health.detail) == (True, "2 file(s), 3 deal row(s)")


async def test_select_filter_is_refused_with_the_alternative(tmp_path: Path) -> None:
    source = make_source(write_csv(tmp_path / "a.csv", [deal_row("A-1")]))
    with pytest.raises(PermanentError, match="filter rows with the mapping's active_when"):
        async for _page in source.changed_deals(DealQuery(select="Stage = 'Won'"), None):
            pass


async def test_mapping_columns_missing_from_every_sheet_are_reported_with_a_guess(
    tmp_path: Path,
) -> None:
    source = make_source(write_csv(tmp_path / "a.csv", [deal_row("A-1")]))
    await read_pages(source, fields=("Account", "Discount", "_row"))
    assert source.problems() == [
        "the mapping reads column 'Discount', which no sheet has; did you mean 'Discount %'?"
    ]


async def test_problems_are_logged_as_warnings_with_the_connector_name(tmp_path: Path) -> None:
    source = make_source(write_csv(tmp_path / "a.csv", [deal_row(""), deal_row("A-2")]))
    with capture_logs() as logs:
        await read_deals(source)
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert warnings == [
        {
            "event": "spreadsheet_problem",
            "connector": "apac",
            "problem": "a.csv row 2 column 'Deal ID': blank deal id; the row is skipped",
            "log_level": "warning",
        }
    ]


async def test_problems_are_reset_by_each_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [deal_row(""), deal_row("A-2")])
    source = make_source(path)
    await read_deals(source)
    write_csv(path, [deal_row("A-2")])
    await read_deals(source)
    assert source.problems() == []


def test_source_is_constructed_without_touching_the_disk(tmp_path: Path) -> None:
    source = make_source(tmp_path / "not-yet-mounted")
    assert isinstance(source, SpreadsheetSource)
