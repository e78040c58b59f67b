"""Finding the header row, and explaining clearly when it is not there.

People put titles, blank rows or notes above a sheet's header ("shifted header"), so the
header is the first of the first :data:`HEADER_SCAN_ROWS` rows holding the id column's header.
Headers are matched case- and space-insensitively; the payload keeps them as written.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from openpyxl.utils import get_column_letter

HEADER_SCAN_ROWS = 10


class SheetError(Exception):
    """A whole file cannot be read as a deal sheet; the message names the file and the fix."""


def same_header(cell: str, wanted: str) -> bool:
    """``" deal id "`` is the ``Deal ID`` column."""
    return " ".join(cell.split()).casefold() == " ".join(wanted.split()).casefold()


def find_header(
    rows: Sequence[Sequence[str]], id_column: str, header_row: int | None
) -> int | None:
    """0-based index of the header row in ``rows``, or ``None`` when no row holds ``id_column``."""
    candidates = [header_row - 1] if header_row else range(min(HEADER_SCAN_ROWS, len(rows)))
    for index in candidates:
        if index < len(rows) and any(same_header(cell, id_column) for cell in rows[index]):
            return index
    return None


def header_not_found(
    file: str, rows: Sequence[Sequence[str]], id_column: str, header_row: int | None
) -> SheetError:
    """The error for a sheet without the id column: where we looked, what we saw, best guess."""
    looked = f"row {header_row}" if header_row else f"the first {HEADER_SCAN_ROWS} rows"
    pinned = header_row is not None and header_row <= len(rows)
    scanned = [rows[header_row - 1]] if header_row and pinned else rows[:HEADER_SCAN_ROWS]
    widest = max(scanned, key=lambda row: sum(1 for c in row if c), default=[])
    found = [cell for cell in widest if cell]
    every_cell = {cell for row in scanned for cell in row if cell}
    message = f"{file}: no column {id_column!r} in {looked}; columns found: "
    message += ", ".join(repr(c) for c in found) if found else "none (the sheet looks empty)"
    guess = closest(id_column, sorted(every_cell))
    if guess:
        message += f"; did you mean {guess!r}? Set id_column to the exact header text"
    return SheetError(message)


def closest(wanted: str, choices: Sequence[str]) -> str | None:
    """The choice most like ``wanted`` (ignoring case), if any is reasonably close."""
    folded = {choice.casefold(): choice for choice in choices}
    match = difflib.get_close_matches(wanted.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[match[0]] if match else None


def unique_columns(file: str, header: Sequence[str]) -> tuple[list[tuple[int, str]], list[str]]:
    """(cell index, header) for each named column, first occurrence winning, plus notes.

    Blank header cells are skipped (trailing empty columns are common); a repeated header
    would make ``{header: value}`` ambiguous, so the later column is ignored and reported.
    """
    columns: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    notes: list[str] = []
    for index, cell in enumerate(header):
        if not cell:
            continue
        key = cell.casefold()
        if key in seen:
            first, again = get_column_letter(seen[key] + 1), get_column_letter(index + 1)
            notes.append(
                f"{file}: column {cell!r} appears twice ({first} and {again}); "
                f"column {again} is ignored"
            )
            continue
        seen[key] = index
        columns.append((index, cell))
    return columns, notes
