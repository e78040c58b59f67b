"""Listing the sheet files and reading each one into a header plus data rows of text.

CSV is read with the :mod:`csv` module (the delimiter is the one of ``,`` ``;`` or tab that
reveals the header row); XLSX with openpyxl in ``read_only`` + ``data_only`` mode (streamed,
and formulas give their last computed value). Row numbers are the 1-based numbers a person
sees in Excel, so problems can point at a cell.
"""

from __future__ import annotations

import csv
import io
import itertools
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from connectors.sales.spreadsheet.cells import cell_text
from connectors.sales.spreadsheet.config import SpreadsheetConfig
from connectors.sales.spreadsheet.header import (
    HEADER_SCAN_ROWS,
    SheetError,
    find_header,
    header_not_found,
    unique_columns,
)

SHEET_SUFFIXES = (".csv", ".xlsx")
DELIMITERS = (",", ";", "\t")
Row = list[str]


@dataclass(frozen=True)
class SheetTable:
    """One file's header and data rows, all cells as text."""

    name: str
    """File name, as problems and ``_file`` show it."""
    path: Path
    header_row: int
    """1-based row number of the header."""
    columns: tuple[tuple[int, str], ...]
    """(cell index, header text) of every named column."""
    rows: tuple[tuple[int, Row], ...]
    """(1-based row number, cells) for every row below the header."""
    mtime: datetime
    notes: tuple[str, ...] = ()
    """Non-fatal header problems (a repeated column)."""


def list_sheet_files(path: Path) -> tuple[list[Path], list[str]]:
    """The sheets to read, sorted by name, plus notes about files deliberately left out.

    Office lock files (``~$x.xlsx``), LibreOffice locks and other dotfiles are skipped
    silently; a legacy ``.xls`` is mentioned, because its deals would otherwise vanish unseen.
    """
    if path.is_file():
        return [path], []
    files, notes = [], []
    for item in sorted(path.iterdir(), key=lambda p: p.name):
        if item.name.startswith(("~", ".")) or not item.is_file():
            continue
        suffix = item.suffix.lower()
        if suffix in SHEET_SUFFIXES:
            files.append(item)
        elif suffix == ".xls":
            notes.append(f"{item.name}: legacy .xls is not read; save it as .xlsx")
    return files, notes


def read_table(path: Path, config: SpreadsheetConfig) -> SheetTable:
    """Read one file and locate its header; raises :class:`SheetError` for the whole file."""
    suffix = path.suffix.lower()
    if suffix not in SHEET_SUFFIXES:
        raise SheetError(f"{path.name}: only .csv and .xlsx sheets are read")
    try:
        mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        rows = _csv_rows(path, config) if suffix == ".csv" else _xlsx_rows(path, config)
    except OSError as exc:
        raise SheetError(f"{path.name}: cannot read the file ({exc.strerror})") from None
    index = find_header(rows, config.id_column, config.header_row)
    if index is None:
        raise header_not_found(path.name, rows, config.id_column, config.header_row)
    columns, notes = unique_columns(path.name, rows[index])
    return SheetTable(
        name=path.name,
        path=path,
        header_row=index + 1,
        columns=tuple(columns),
        rows=tuple((number, cells) for number, cells in enumerate(rows[index + 1 :], index + 2)),
        mtime=mtime,
        notes=tuple(notes),
    )


def _csv_rows(path: Path, config: SpreadsheetConfig) -> list[Row]:
    try:
        with path.open(encoding=config.encoding, newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError as exc:
        raise SheetError(
            f"{path.name}: not valid {config.encoding} text (byte {exc.object[exc.start]:#04x} "
            f"at offset {exc.start}); set encoding, e.g. cp1252 for a CSV saved by older Excel"
        ) from None
    text = text.removeprefix("\ufeff")  # a BOM left by encoding: utf-8 must not hide "Deal ID"
    delimiter = config.delimiter or _sniff_delimiter(text, config)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        return [[cell.strip() for cell in row] for row in reader]
    except csv.Error as exc:
        raise SheetError(
            f"{path.name} line {reader.line_num}: not readable as CSV ({exc}); "
            "save the sheet again as CSV"
        ) from None


CELL_LIMIT = 16 * 1024 * 1024
"""The longest CSV cell read, in characters: the csv module's own default (128 KiB) refuses a
cell a person pasted a long text into, and the deal's other terms with it. (The limit is the
module's, for the process: nothing else here reads CSV.)"""
csv.field_size_limit(CELL_LIMIT)


def _sniff_delimiter(text: str, config: SpreadsheetConfig) -> str:
    """The delimiter under which the header row appears; else the one giving the widest row.

    ``csv.Sniffer`` is thrown off by title rows above the header; asking "where is the id
    column?" is both simpler and exactly what the rest of the read needs.
    """
    head_rows = config.header_row or HEADER_SCAN_ROWS
    widths: dict[str, int] = {}
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        try:
            head = [[c.strip() for c in row] for row in itertools.islice(reader, head_rows)]
        except csv.Error:  # unreadable this way; the read itself names the line if it is
            widths[delimiter] = 0
            continue
        if find_header(head, config.id_column, config.header_row) is not None:
            return delimiter
        widths[delimiter] = max((len(row) for row in head), default=0)
    return max(DELIMITERS, key=lambda d: widths[d])


def _xlsx_rows(path: Path, config: SpreadsheetConfig) -> list[Row]:
    # The file is opened here, not by openpyxl: a workbook that fails to load leaves the
    # archive openpyxl opened unclosed, in a cycle with the error, closed only whenever the
    # collector gets to it (and then with a ResourceWarning).
    with path.open("rb") as handle:
        try:
            with warnings.catch_warnings():
                # openpyxl warns about workbook features it drops (styles, extensions).
                warnings.simplefilter("ignore", UserWarning)
                book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except UNREADABLE_XLSX as exc:
            raise _unreadable(path, exc) from None
        try:
            if config.sheet is not None and config.sheet not in book.sheetnames:
                sheets = ", ".join(book.sheetnames)
                raise SheetError(f"{path.name}: no sheet {config.sheet!r}; sheets: {sheets}")
            sheet = book[config.sheet] if config.sheet else book.worksheets[0]
            # read_only: the sheet's XML is parsed as its rows are read: broken XML shows here
            return [_xlsx_row(cells) for cells in sheet.iter_rows()]
        except UNREADABLE_XLSX as exc:
            raise _unreadable(path, exc) from None
        finally:
            book.close()


UNREADABLE_XLSX = (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, ParseError)
"""What openpyxl raises for a file that is not a whole workbook: a zip cut short, a part
missing, XML cut off or not well-formed (``ParseError``), XML declaring entities (refused by
defusedxml, a ``ValueError``: an entity expanding a billion times would take the memory)."""


def _unreadable(path: Path, exc: Exception) -> SheetError:
    return SheetError(
        f"{path.name}: cannot open as an .xlsx workbook ({type(exc).__name__}); "
        "is it still being saved, or a different format renamed?"
    )


def _xlsx_row(cells: Iterable[Any]) -> Row:
    """Cell texts; the number format is looked up only for numbers (it is costly per cell)."""
    row: Row = []
    for cell in cells:
        value = cell.value
        if type(value) is str:  # the common case, kept cheap for sheets of 50k rows
            row.append(value.strip())
        elif isinstance(value, int | float) and not isinstance(value, bool):
            row.append(cell_text(value, cell.number_format))
        else:
            row.append(cell_text(value))
    return row
