"""Spreadsheet source (``kind: spreadsheet``): a territory's hand-kept CSV and XLSX deal sheets.

What it reads, per call (no HTTP; :class:`~connectors.http.VendorClient` is not involved):

* ``changed_deals``, ``field_catalog`` and ``check`` each read every sheet once: ``path`` is
  one file or a folder of ``*.csv`` and ``*.xlsx`` (sorted by name; ``~$`` Office lock files
  and dotfiles skipped). Cost is one full read per call, linear in rows; pages hold at most
  ``page_size`` deals (default 500).
* A deal is one row: ``SourceDeal.id`` is the ``id_column`` cell; ``payload`` maps **header
  text** to cell text, plus ``_file`` (file name) and ``_row`` (1-based row number) so the
  engine can point at the cell a bad value came from, and ``_territory`` if configured.
  Mappings address columns by header text exactly as written (a header containing ``.`` can
  not be addressed, because mapping paths are dotted). ``url`` is ``file://...#row=N``.
* ``modified_at`` comes from ``modified_column`` (ISO 8601, else ``date_format``; naive
  values are UTC) or, without one, the file's mtime.
* Incremental reads compare content, not time: the cursor is ``{deal id: fingerprint}``
  (see :mod:`.cursor`). Changed rows are changed deals; ids gone from every sheet are
  ``SourceDeal(deleted=True)``, except while some file is unreadable (then held back).

Facts behind the choices:

* Excel's "CSV UTF-8" writes a byte-order mark, so the default encoding is ``utf-8-sig``
  (Python codecs docs); Excel in locales with a decimal comma saves CSV with ``;``, so the
  delimiter is detected (``,`` ``;`` or tab) by where the header row appears.
* openpyxl ``read_only=True`` streams rows; ``data_only=True`` gives a formula's value as
  stored the last time Excel saved the sheet (openpyxl docs, ``load_workbook``), so a
  workbook written by a tool that never calculated it reads blank formula cells.
* Excel keeps 15 significant digits (Microsoft KB 65903, IEEE 754 per KB 78113), so floats
  are rendered at 15 digits; date cells have no date-only type (midnight means a date).
* Excel and LibreOffice create ``~$name.xlsx`` / ``.~lock.name#`` lock files next to open
  workbooks; they are not sheets.
"""

from __future__ import annotations

from connectors.registry import ConnectorSpec, DemoSpec, DemoTerritory
from connectors.sales.spreadsheet.config import SpreadsheetConfig
from connectors.sales.spreadsheet.source import SpreadsheetSource
from connectors.settings import ConnectorOptions

__all__ = ["CONNECTOR", "SpreadsheetConfig", "SpreadsheetSource", "create"]


def create(name: str, config: SpreadsheetConfig, options: ConnectorOptions) -> SpreadsheetSource:
    """Build the source; ``options`` (HTTP transport, sleep) have nothing to act on here."""
    del options
    return SpreadsheetSource(name, config)


CONNECTOR = ConnectorSpec(
    kind="spreadsheet",
    role="source",
    config_model=SpreadsheetConfig,
    factory=create,
    simulator=None,
    contract_harness="sandbox.spreadsheet:contract_harness",
    label="Sheet",
    demo=DemoSpec(
        simulator=None,
        prepare="sandbox.spreadsheet:prepare_demo",
        territory=DemoTerritory(
            job="apac", connector="sheets_apac", territory="APAC", mapping="apac-spreadsheet.yaml"
        ),
    ),
    webhook="connectors.sales.spreadsheet.webhook:WEBHOOK",
)
