"""One pass over every sheet: the deal rows by id, their fingerprints, and the row problems.

A row problem (blank id, duplicate id, unreadable modified date) skips or degrades that row
only; a file problem (no header, unreadable file) skips that file only. Problems are plain
sentences naming file, row and column, for ``problems()`` and the warnings log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from connectors.sales.spreadsheet.cells import parse_modified
from connectors.sales.spreadsheet.config import SpreadsheetConfig
from connectors.sales.spreadsheet.header import SheetError, same_header
from connectors.sales.spreadsheet.sheets import SheetTable, list_sheet_files, read_table


@dataclass(frozen=True)
class SheetRow:
    """One deal row: where it is, its values by header, and its fingerprint."""

    deal_id: str
    file: str
    path: Path
    row: int
    values: dict[str, str]
    modified_at: datetime
    fingerprint: str


@dataclass
class Scan:
    """Everything one read of the sheets found."""

    files: list[str] = field(default_factory=list)
    failed_files: list[str] = field(default_factory=list)
    rows: dict[str, SheetRow] = field(default_factory=dict)
    """Deal rows by id, in reading order (files by name, then rows top to bottom)."""
    headers: dict[str, None] = field(default_factory=dict)
    """Union of the column headers, in first-seen order (an ordered set)."""
    problems: list[str] = field(default_factory=list)


def row_fingerprint(values: Mapping[str, str]) -> str:
    """16 hex chars of sha256 over the row's non-blank cells, sorted by header.

    Blank cells and column order are left out on purpose: adding an empty column or moving
    columns around is not a change to any deal. Location (file, row) is left out too, so
    sorting a sheet or moving a row to another file does not re-send the deal.
    """
    cells = sorted((header, value) for header, value in values.items() if value)
    text = json.dumps(cells, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def scan_sheets(config: SpreadsheetConfig) -> Scan:
    """Read every sheet under ``config.path``; file and row problems are collected, not raised."""
    scan = Scan()
    files, notes = list_sheet_files(config.path)
    scan.problems += notes
    for path in files:
        scan.files.append(path.name)
        try:
            table = read_table(path, config)
        except SheetError as exc:
            scan.failed_files.append(path.name)
            scan.problems.append(str(exc))
            continue
        _take_table(scan, table, config)
    return scan


def _take_table(scan: Scan, table: SheetTable, config: SpreadsheetConfig) -> None:
    scan.problems += table.notes
    headers = [header for _, header in table.columns]
    scan.headers.update(dict.fromkeys(headers))
    reader = _TableReader(scan, table, config, headers)
    for number, cells in table.rows:
        values = {header: cells[i] if i < len(cells) else "" for i, header in table.columns}
        if not any(values.values()):
            continue  # blank spacer rows are normal in hand-kept sheets
        row = reader.row(number, values)
        if row is not None:
            scan.rows[row.deal_id] = row


class _TableReader:
    """Turns one table's rows into :class:`SheetRow`s, reporting problems into the scan."""

    def __init__(
        self, scan: Scan, table: SheetTable, config: SpreadsheetConfig, headers: list[str]
    ) -> None:
        self.scan, self.table, self.config = scan, table, config
        self.id_header = next(h for h in headers if same_header(h, config.id_column))
        self.modified_header = self._modified_header(headers)

    def _modified_header(self, headers: list[str]) -> str | None:
        wanted = self.config.modified_column
        if wanted is None:
            return None
        found = next((h for h in headers if same_header(h, wanted)), None)
        if found is None:
            self.scan.problems.append(
                f"{self.table.name}: no column {wanted!r} (modified_column) in row "
                f"{self.table.header_row}; the file's modification time is used for its deals"
            )
        return found

    def row(self, number: int, values: dict[str, str]) -> SheetRow | None:
        """The deal row, or ``None`` (reported) when its id is blank or already taken."""
        where = f"{self.table.name} row {number} column {self.id_header!r}"
        deal_id = values[self.id_header]
        if not deal_id:
            self.scan.problems.append(f"{where}: blank deal id; the row is skipped")
            return None
        first = self.scan.rows.get(deal_id)
        if first is not None:
            self.scan.problems.append(
                f"{where}: duplicate deal id {deal_id!r}, first seen in {first.file} row "
                f"{first.row}; the first row is used and this later row is skipped"
            )
            return None
        return SheetRow(
            deal_id=deal_id,
            file=self.table.name,
            path=self.table.path,
            row=number,
            values=values,
            modified_at=self._modified_at(number, values),
            fingerprint=row_fingerprint(values),
        )

    def _modified_at(self, number: int, values: dict[str, str]) -> datetime:
        header = self.modified_header
        if header is None or not values[header]:
            return self.table.mtime
        parsed = parse_modified(values[header], self.config.date_format)
        if parsed is not None:
            return parsed
        expected = "ISO 8601 such as 2026-11-23 or 2026-11-23T09:30:00"
        if self.config.date_format:
            expected += f", or date_format {self.config.date_format!r}"
        self.scan.problems.append(
            f"{self.table.name} row {number} column {header!r}: {values[header]!r} is not a "
            f"date ({expected}); the file's modification time is used"
        )
        return self.table.mtime
