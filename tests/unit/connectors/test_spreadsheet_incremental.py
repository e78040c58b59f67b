"""Spreadsheet source, incremental reads: the cursor is a fingerprint per deal id.

A changed row is a changed deal, an unchanged row is nothing, a removed row is a deleted
deal, and every page's checkpoint can be stored without losing a change or a deletion.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import Cursor, DealPage
from tests.fixtures.spreadsheet import (
    HEADER,
    NOW,
    deal_row,
    last_checkpoint,
    make_source,
    read_deals,
    read_pages,
    set_mtime,
    write_csv,
    write_xlsx,
)

pytestmark = pytest.mark.anyio


def ids(pages: list[DealPage]) -> list[str]:
    return [deal.id for page in pages for deal in page.deals]


def deleted_ids(pages: list[DealPage]) -> list[str]:
    return [deal.id for page in pages for deal in page.deals if deal.deleted]


def stored(cursor: Cursor) -> dict[str, str]:
    value = json.loads(cursor.value)
    assert isinstance(value, dict)
    return value


async def test_first_read_yields_every_row_and_a_compact_fingerprint_map(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "deals.csv", [deal_row("A-1"), deal_row("A-2")])
    pages = await read_pages(make_source(path))
    assert ids(pages) == ["A-1", "A-2"]
    fingerprints = stored(last_checkpoint(pages))
    assert set(fingerprints) == {"A-1", "A-2"}
    assert all(len(fp) == 16 and int(fp, 16) >= 0 for fp in fingerprints.values())


async def test_unchanged_sheet_yields_one_empty_page_with_the_same_cursor(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "deals.csv", [deal_row("A-1"), deal_row("A-2")])
    source = make_source(path)
    cursor = last_checkpoint(await read_pages(source))
    again = await read_pages(source, cursor)
    assert [page.deals for page in again] == [()]
    assert again[0].checkpoint == cursor


async def test_changed_row_is_a_changed_deal_and_only_that_one(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "deals.csv", [deal_row("A-1"), deal_row("A-2")])
    source = make_source(path)
    cursor = last_checkpoint(await read_pages(source))
    write_csv(path, [deal_row("A-1"), deal_row("A-2", discount="15")])
    [deal] = await read_deals(source, cursor)
    assert (deal.id, deal.payload["Discount %"], deal.deleted) == ("A-2", "15", False)


async def test_layout_only_edits_are_not_changes(tmp_path: Path) -> None:
    """Resaving, sorting rows, reordering columns, adding an empty column, moving a row to
    another sheet: none of these changes a deal's terms, so none re-sends a deal."""
    path = write_csv(tmp_path / "a.csv", [deal_row("A-1"), deal_row("A-2", "Hooli")])
    source = make_source(tmp_path)
    cursor = last_checkpoint(await read_pages(source))
    reordered = (*reversed(HEADER), "Notes")
    write_csv(path, [[*reversed(deal_row("A-2", "Hooli")), ""]], header=reordered)
    write_xlsx(tmp_path / "b.xlsx", [list(HEADER), deal_row("A-1")])
    set_mtime(path, datetime(2027, 1, 1, tzinfo=UTC))
    assert await read_deals(source, cursor) == []


async def test_removed_row_is_a_deleted_deal_once(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "deals.csv", [deal_row("A-1"), deal_row("A-2")])
    source = make_source(path)
    cursor = last_checkpoint(await read_pages(source))
    write_csv(path, [deal_row("A-1")])
    pages = await read_pages(source, cursor)
    [deal] = [d for page in pages for d in page.deals]
    assert (deal.id, deal.deleted, deal.modified_at, deal.payload) == ("A-2", True, NOW, {})
    assert set(stored(last_checkpoint(pages))) == {"A-1"}
    assert await read_deals(source, last_checkpoint(pages)) == []


async def test_row_added_back_after_deletion_is_a_changed_deal_again(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "deals.csv", [deal_row("A-1"), deal_row("A-2")])
    source = make_source(path)
    first = last_checkpoint(await read_pages(source))
    write_csv(path, [deal_row("A-1")])
    second = last_checkpoint(await read_pages(source, first))
    write_csv(path, [deal_row("A-1"), deal_row("A-2")])
    assert [(d.id, d.deleted) for d in await read_deals(source, second)] == [("A-2", False)]


async def test_pages_hold_at_most_page_size_deals_oldest_first_then_deletions(
    tmp_path: Path,
) -> None:
    rows = [deal_row(f"P-{n}", modified=f"2026-11-{20 - n:02d}T10:00:00Z") for n in range(5)]
    path = write_csv(tmp_path / "deals.csv", [*rows, deal_row("GONE")])
    source = make_source(path, modified_column="Last Modified", page_size=2)
    cursor = last_checkpoint(await read_pages(source))
    write_csv(path, [deal_row(f"P-{n}", discount="11", modified=r[4]) for n, r in enumerate(rows)])
    pages = await read_pages(source, cursor)
    assert [[d.id for d in page.deals] for page in pages] == [
        ["P-4", "P-3"],
        ["P-2", "P-1"],
        ["P-0", "GONE"],
    ]
    assert deleted_ids(pages) == ["GONE"]


async def test_rows_sharing_one_modified_time_all_arrive_ordered_by_id(tmp_path: Path) -> None:
    rows = [deal_row(f"EQ-{n:02d}", modified="2026-11-20T10:00:00Z") for n in (7, 3, 11, 1, 5)]
    source = make_source(
        write_csv(tmp_path / "tie.csv", rows), modified_column="Last Modified", page_size=2
    )
    assert ids(await read_pages(source)) == ["EQ-01", "EQ-03", "EQ-05", "EQ-07", "EQ-11"]


async def test_each_intermediate_checkpoint_is_the_old_map_plus_the_deals_yielded_so_far(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "deals.csv", [deal_row(f"C-{n}") for n in range(4)])
    source = make_source(path, page_size=2)
    old = last_checkpoint(await read_pages(source))
    write_csv(path, [deal_row("C-0", amount="5"), deal_row("C-2", amount="5"), deal_row("N-9")])
    pages = await read_pages(source, old)
    new = stored(pages[-1].checkpoint)
    progress = stored(old)
    for page in pages:
        for deal in page.deals:
            if deal.deleted:
                progress.pop(deal.id)
            else:
                progress[deal.id] = new[deal.id]
        assert stored(page.checkpoint) == progress
    assert set(new) == {"C-0", "C-2", "N-9"}


@pytest.mark.parametrize("crash_after_page", [0, 1, 2])
async def test_crash_between_pages_loses_no_change_and_no_deletion(
    tmp_path: Path, crash_after_page: int
) -> None:
    """Store page k's checkpoint, "crash", restart a fresh source: the rest still arrives."""
    path = write_csv(tmp_path / "deals.csv", [deal_row(f"K-{n}") for n in range(6)])
    old = last_checkpoint(await read_pages(make_source(path)))
    write_csv(path, [deal_row(f"K-{n}", amount="7") for n in range(3)] + [deal_row("K-new")])
    before = await read_pages(make_source(path, page_size=2), old)
    expected = {(d.id, d.deleted) for page in before for d in page.deals}
    assert len(before) == 4  # 4 changed/new + 3 deleted, two per page
    committed = before[: crash_after_page + 1]
    restarted = await read_pages(make_source(path, page_size=2), committed[-1].checkpoint)
    seen = [(d.id, d.deleted) for page in [*committed, *restarted] for d in page.deals]
    assert set(seen) == expected
    assert len(seen) == len(expected)  # and nothing committed is sent twice
    assert stored(restarted[-1].checkpoint) == stored(before[-1].checkpoint)


async def test_full_read_yields_unchanged_rows_and_still_reports_deletions(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "deals.csv", [deal_row("F-1"), deal_row("F-2")])
    source = make_source(path)
    cursor = last_checkpoint(await read_pages(source))
    write_csv(path, [deal_row("F-1")])
    pages = await read_pages(source, cursor, full=True)
    assert [(d.id, d.deleted) for page in pages for d in page.deals] == [
        ("F-1", False),
        ("F-2", True),
    ]


async def test_duplicate_id_keeps_the_first_row_and_reports_both_locations(
    tmp_path: Path,
) -> None:
    write_csv(tmp_path / "a.csv", [deal_row("DUP-1", "First"), deal_row("A-2")])
    write_xlsx(tmp_path / "b.xlsx", [list(HEADER), deal_row("B-1"), deal_row("DUP-1", "Later")])
    source = make_source(tmp_path)
    deals = {d.id: d for d in await read_deals(source)}
    assert set(deals) == {"DUP-1", "A-2", "B-1"}
    assert (deals["DUP-1"].payload["Account"], deals["DUP-1"].payload["_file"]) == (
        "First",
        "a.csv",
    )
    assert source.problems() == [
        "b.xlsx row 3 column 'Deal ID': duplicate deal id 'DUP-1', first seen in a.csv row 2; "
        "the first row is used and this later row is skipped"
    ]


async def test_blank_id_row_is_reported_and_the_other_rows_continue(tmp_path: Path) -> None:
    rows = [deal_row("B-1"), deal_row("  ", "No id yet"), deal_row("B-3")]
    source = make_source(write_csv(tmp_path / "deals.csv", rows))
    assert [d.id for d in await read_deals(source)] == ["B-1", "B-3"]
    assert source.problems() == [
        "deals.csv row 3 column 'Deal ID': blank deal id; the row is skipped"
    ]


async def test_ids_are_stripped_so_a_stray_space_is_not_a_new_deal(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "deals.csv", [deal_row("S-1")])
    source = make_source(path)
    cursor = last_checkpoint(await read_pages(source))
    write_csv(path, [deal_row(" S-1 ")])
    assert await read_deals(source, cursor) == []


async def test_unreadable_file_holds_back_deletions_until_it_reads_again(tmp_path: Path) -> None:
    """A workbook locked mid-save must not make all of its deals look deleted."""
    write_csv(tmp_path / "a.csv", [deal_row("A-1")])
    book = write_xlsx(tmp_path / "b.xlsx", [list(HEADER), deal_row("B-1"), deal_row("B-2")])
    source = make_source(tmp_path)
    cursor = last_checkpoint(await read_pages(source))
    good = book.read_bytes()
    book.write_bytes(good[:100])
    pages = await read_pages(source, cursor)
    assert ids(pages) == []
    assert stored(last_checkpoint(pages)) == stored(cursor)
    assert source.problems()[-1] == (
        "2 deal(s) missing from the sheets are not reported deleted while b.xlsx cannot be "
        "read; fix the file(s) first"
    )
    book.write_bytes(good)
    assert await read_deals(source, last_checkpoint(pages)) == []


async def test_unreadable_cursor_reads_everything_and_says_deletions_are_unknown(
    tmp_path: Path,
) -> None:
    source = make_source(write_csv(tmp_path / "deals.csv", [deal_row("U-1")]))
    legacy = Cursor(value='{"ts": "2026-11-20T10:00:00Z", "id": {"not": "a map"}}')
    assert [d.id for d in await read_deals(source, legacy)] == ["U-1"]
    assert "stored cursor is not a fingerprint map" in source.problems()[0]


async def test_empty_sheet_still_stores_a_cursor(tmp_path: Path) -> None:
    pages = await read_pages(make_source(write_csv(tmp_path / "empty.csv", [])))
    assert [(page.deals, page.checkpoint.value) for page in pages] == [((), "{}")]
