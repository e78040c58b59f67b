"""Demo sheets for the APAC territory, and the contract harness for the spreadsheet source.

There is no vendor to simulate: the "simulator" is a folder. :func:`write_demo_sheets` writes
the APAC deals from :mod:`sandbox.demo_data` the way a rep keeps them, split between a CSV
(UTF-8 with the BOM Excel writes) and an XLSX (typed cells: numbers, a percent-formatted
discount, real dates, and one blank row above the header, i.e. a shifted header).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import openpyxl

from sandbox.controls import SimControls
from sandbox.demo_data import CUSTOMERS, DemoDeal, customer, deals_for, modified_at
from sandbox.harness import ContractHarness

COLUMNS = (
    "Deal ID", "Deal Name", "Account", "Domain", "Contact Email", "Customer Number", "Stage",
    "Amount", "Currency", "Owner", "Owner Email", "Discount %", "Payment Terms",
    "Free Services", "SLA Promise", "Special Instructions", "Valid Until", "Approved By",
    "Last Modified",
)  # fmt: skip
CSV_NAME = "apac-deals.csv"
XLSX_NAME = "apac-deals.xlsx"
XLSX_FORMATS = {"Amount": "#,##0.00", "Discount %": "0.0%", "Valid Until": "yyyy-mm-dd"}
DEMO_FOLDER = "apac-sheets"
"""Where the demo world keeps the APAC sheets, under its folder."""
LEAK_MARKER = "spreadsheet-sources-have-no-credentials"
"""Stands in for the harness's secret: sheets need no credential, so nothing can leak."""

Cells = dict[str, object]
XlsxValue = str | int | float | date | None


def deal_cells(deal: DemoDeal) -> Cells:
    """One deal as typed cells (numbers, dates), the way a person fills in a workbook."""
    who = customer(deal.customer_key)
    return {
        "Deal ID": deal.id,
        "Deal Name": deal.name,
        "Account": deal.account_name or (who.name if who else ""),
        "Domain": deal.account_domain or (who.domain if who else ""),
        "Contact Email": who.contact_email if who else "",
        "Customer Number": (who.external_id if who else None) or "",
        "Stage": deal.stage,
        "Amount": deal.amount,
        "Currency": deal.currency,
        "Owner": deal.owner_name,
        "Owner Email": deal.owner_email,
        "Discount %": deal.discount_percent,
        "Payment Terms": deal.payment_terms or "",
        "Free Services": ";".join(deal.free_services),
        "SLA Promise": deal.sla or "",
        "Special Instructions": deal.instructions or "",
        "Valid Until": deal.valid_until,
        "Approved By": deal.approved_by or "",
        "Last Modified": modified_at(deal),
    }


def csv_text(name: str, value: object) -> str:
    """A typed cell as a person would type it into a CSV."""
    if value is None:
        return ""
    if name == "Amount" and isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, date):  # datetimes too: ISO 8601 with the UTC offset
        return value.isoformat()
    return str(value)


def write_csv(path: Path, rows: Sequence[Cells]) -> None:
    """A CSV as Excel's "CSV UTF-8" saves it: BOM, comma-separated, header on row 1."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows([csv_text(c, row.get(c)) for c in COLUMNS] for row in rows)


def append_csv(path: Path, rows: Sequence[Cells]) -> None:
    """Add rows at the bottom of a CSV (no second BOM), as a rep adding deals would."""
    with path.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([csv_text(c, row.get(c)) for c in COLUMNS] for row in rows)


def write_xlsx(path: Path, rows: Sequence[Cells], *, blank_rows_above: int = 1) -> None:
    """A workbook with typed cells, the header shifted down by ``blank_rows_above`` rows."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = "Deals"
    header_row = blank_rows_above + 1
    for column, name in enumerate(COLUMNS, start=1):
        sheet.cell(row=header_row, column=column, value=name)
    for number, row in enumerate(rows, start=header_row + 1):
        for column, name in enumerate(COLUMNS, start=1):
            value = _xlsx_value(name, row.get(name))
            cell = sheet.cell(row=number, column=column, value=value)
            if name in XLSX_FORMATS:
                cell.number_format = XLSX_FORMATS[name]
    book.save(path)


def _xlsx_value(name: str, value: object) -> XlsxValue:
    """A typed cell as Excel holds it; empty text is an empty cell."""
    if name == "Discount %" and isinstance(value, float):
        return round(value / 100, 6)  # Excel keeps percentages as fractions: 12.5% is 0.125
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)  # Excel has no time zones: UTC
    if isinstance(value, int | float | date):
        return value
    return str(value) if value not in (None, "") else None


def write_demo_sheets(folder: Path) -> list[Path]:
    """Write the APAC deals as one CSV and one XLSX (split between them); return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [deal_cells(deal) for deal in deals_for("spreadsheet")]
    half = (len(rows) + 1) // 2
    csv_path, xlsx_path = folder / CSV_NAME, folder / XLSX_NAME
    write_csv(csv_path, rows[:half])
    write_xlsx(xlsx_path, rows[half:])
    return [csv_path, xlsx_path]


def prepare_demo(folder: Path, *, write: bool) -> dict[str, str]:
    """The connector setting that reads the demo world's APAC sheets under ``folder``; with
    ``write``, the sheets are written (afresh) first."""
    sheets = folder / DEMO_FOLDER
    if write:
        write_demo_sheets(sheets)
    return {"path": str(sheets)}


def equal_timestamp_rows(count: int, when: datetime, *, prefix: str = "APAC-EQ") -> list[Cells]:
    """``count`` small won deals that all share one Last Modified value."""
    rows = []
    for index in range(count):
        who = CUSTOMERS[index % len(CUSTOMERS)]
        rows.append(
            {
                "Deal ID": f"{prefix}-{index + 1:04d}",
                "Deal Name": f"{who.name} add-on {index + 1}",
                "Account": who.name,
                "Domain": who.domain,
                "Contact Email": who.contact_email,
                "Customer Number": who.external_id or "",
                "Stage": "Won",
                "Amount": 1000.0 + index,
                "Currency": "AUD",
                "Owner": "Mei Tanaka",
                "Owner Email": "mei.tanaka@seller.example",
                "Discount %": 5.0,
                "Payment Terms": "Net 30",
                "Last Modified": when,
            }
        )
    return rows


def contract_harness(folder: Path | None = None) -> ContractHarness:
    """Demo sheets in ``folder`` (default: a fresh temporary one), read five deals a page."""
    folder = folder or Path(tempfile.mkdtemp(prefix="dealbridge-sheets-"))
    write_demo_sheets(folder)
    tie = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def seed_equal_timestamps(count: int) -> None:
        append_csv(folder / CSV_NAME, equal_timestamp_rows(count, tie))

    return ContractHarness(
        kind="spreadsheet",
        app=None,
        controls=SimControls(),
        config={
            "kind": "spreadsheet",
            "path": str(folder),
            "modified_column": "Last Modified",
            "territory": "APAC",
            "page_size": 5,
        },
        env={},
        secret=LEAK_MARKER,
        throttle_fault=None,
        auth_fault=None,
        seed_equal_timestamps=seed_equal_timestamps,
        page_size=5,
        extra={"folder": folder},
    )
