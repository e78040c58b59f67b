"""The spreadsheet source: reads every sheet once per call and yields what changed.

Reading is blocking file I/O, so it runs in a worker thread (``anyio.to_thread``) and never
stalls the daemon's event loop. Row and file problems never stop a read; they are kept for
:meth:`SpreadsheetSource.problems` and logged as warnings. Only "nothing can be read at all"
(missing path, empty folder, every file broken) raises, as an admin-actionable PermanentError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime

import anyio.to_thread
import structlog

from connectors.base import Cursor, DealPage, DealQuery, FieldInfo, Health, SourceDeal
from connectors.errors import PermanentError
from connectors.sales.spreadsheet.config import SpreadsheetConfig
from connectors.sales.spreadsheet.cursor import decode_cursor, pages
from connectors.sales.spreadsheet.header import closest
from connectors.sales.spreadsheet.scan import Scan, SheetRow, scan_sheets

log = structlog.get_logger("dealbridge.spreadsheet")

META_FIELDS = ("_file", "_row", "_territory")
"""Payload keys the connector adds next to the columns (``_territory`` only when configured)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SpreadsheetSource:
    """A territory's hand-kept deal sheets as a :class:`~connectors.base.SalesSource`."""

    system = "spreadsheet"

    def __init__(
        self, name: str, config: SpreadsheetConfig, *, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.name = name
        self.config = config
        self._clock = clock
        self._problems: list[str] = []

    def problems(self) -> list[str]:
        """Row and file problems found by the last read (file, row and column named in each)."""
        return list(self._problems)

    async def changed_deals(
        self, query: DealQuery, since: Cursor | None
    ) -> AsyncIterator[DealPage]:
        """Changed rows (oldest first), then deletions, in pages whose checkpoints are all safe.

        ``query.full`` yields every row; deletions against ``since`` are still reported, so a
        full read never forgets one. ``query.select`` is refused: a sheet has no query language.
        """
        if query.select:
            raise self._admin_error(
                "select is not supported for spreadsheet sources; filter rows with the "
                "mapping's active_when instead"
            )
        scan = await self._scan()
        old = self._old_fingerprints(since)
        self._check_fields(scan, query.fields)
        changed = self._changed(scan, old, full=query.full)
        deleted = self._deletions(scan, old)
        log.info(
            "spreadsheet_read",
            connector=self.name,
            files=len(scan.files),
            rows=len(scan.rows),
            changed=len(changed),
            deleted=len(deleted),
            problems=len(self._problems),
        )
        new = {row.deal_id: row.fingerprint for row in scan.rows.values()}
        for page in pages([*changed, *deleted], new, old, self.config.page_size):
            yield page

    async def field_catalog(self) -> list[FieldInfo]:
        """Every column header found in any sheet (as text), plus the location fields."""
        scan = await self._scan()
        fields = [FieldInfo(path=header, type="text", label=header) for header in scan.headers]
        fields += [
            FieldInfo(path="_file", type="text", label="Sheet file name"),
            FieldInfo(path="_row", type="integer", label="Row number in the sheet (1-based)"),
        ]
        if self.config.territory:
            fields.append(FieldInfo(path="_territory", type="text", label="Territory"))
        return fields

    async def check(self) -> Health:
        """The path is there and readable; the detail counts files, rows and problems."""
        try:
            scan = await self._scan()
        except PermanentError as exc:
            return Health(ok=False, detail=exc.message)
        detail = f"{len(scan.files)} file(s), {len(scan.rows)} deal row(s)"
        if self._problems:
            detail += f"; {len(self._problems)} problem(s), first: {self._problems[0]}"
        return Health(ok=True, detail=detail)

    async def aclose(self) -> None:
        """Nothing to release: files are opened and closed within each read."""

    async def _scan(self) -> Scan:
        """Read every sheet (in a worker thread); raise only when nothing at all is readable."""
        self._problems = []
        path = self.config.path
        try:
            scan = await anyio.to_thread.run_sync(scan_sheets, self.config)
        except FileNotFoundError:
            raise self._admin_error(f"{path} does not exist; check path in config") from None
        except OSError as exc:
            raise self._admin_error(f"cannot list {path}: {exc.strerror}") from None
        if not scan.files:
            raise self._admin_error(f"{path} holds no .csv or .xlsx sheets")
        if len(scan.failed_files) == len(scan.files):
            raise self._admin_error("no sheet could be read: " + "; ".join(scan.problems))
        self._report(scan.problems)
        return scan

    def _old_fingerprints(self, since: Cursor | None) -> dict[str, str]:
        old = decode_cursor(since)
        if old is None:
            self._report(
                [
                    "the stored cursor is not a fingerprint map; every row is read as changed and "
                    "deletions since the last run cannot be detected"
                ]
            )
            return {}
        return old

    def _changed(self, scan: Scan, old: dict[str, str], *, full: bool) -> list[SourceDeal]:
        """Rows whose fingerprint differs from the cursor's (all rows if ``full``), oldest first."""
        changed = [
            self._deal(row)
            for row in scan.rows.values()
            if full or old.get(row.deal_id) != row.fingerprint
        ]
        changed.sort(key=lambda deal: (deal.modified_at, deal.id))
        return changed

    def _deletions(self, scan: Scan, old: dict[str, str]) -> list[SourceDeal]:
        """Ids gone from every sheet; held back while any file is unreadable.

        A file that fails to open (locked mid-save, header renamed) would otherwise make all
        of its deals look deleted; they stay in the cursor and are decided on the next read.
        """
        gone = sorted(deal_id for deal_id in old if deal_id not in scan.rows)
        if gone and scan.failed_files:
            self._report(
                [
                    f"{len(gone)} deal(s) missing from the sheets are not reported deleted while "
                    f"{', '.join(scan.failed_files)} cannot be read; fix the file(s) first"
                ]
            )
            return []
        now = self._clock()
        return [SourceDeal(id=deal_id, modified_at=now, deleted=True) for deal_id in gone]

    def _check_fields(self, scan: Scan, fields: Iterable[str]) -> None:
        known = [*scan.headers, *META_FIELDS]
        for path in fields:
            if path not in known:
                guess = closest(path, known)
                hint = f"; did you mean {guess!r}?" if guess else ""
                self._report([f"the mapping reads column {path!r}, which no sheet has{hint}"])

    def _deal(self, row: SheetRow) -> SourceDeal:
        payload: dict[str, object] = {**row.values, "_file": row.file, "_row": row.row}
        if self.config.territory:
            payload["_territory"] = self.config.territory
        return SourceDeal(
            id=row.deal_id,
            modified_at=row.modified_at,
            payload=payload,
            url=f"{row.path.absolute().as_uri()}#row={row.row}",
        )

    def _report(self, problems: Iterable[str]) -> None:
        for problem in problems:
            self._problems.append(problem)
            log.warning("spreadsheet_problem", connector=self.name, problem=problem)

    def _admin_error(self, message: str) -> PermanentError:
        """Reading failed as a whole: the path, the folder or every sheet needs an admin."""
        return PermanentError(message, who_acts="admin", connector=self.name, operation="read")
