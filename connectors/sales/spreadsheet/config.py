"""Config for a spreadsheet source: where the sheets are and which columns mean what.

``path`` is the real setting. ``base_url`` (required by :class:`ConnectorConfig` for HTTP
vendors) defaults to ``"file:"`` here and is not used; ``timeout``, ``rate_per_second`` and
``max_in_flight`` are accepted for uniformity and ignored, because nothing goes over HTTP.
A relative ``path`` resolves against the daemon's working directory, so prefer absolute paths.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from connectors.settings import ConnectorConfig


class SpreadsheetConfig(ConnectorConfig):
    """A folder (or one file) of CSV and XLSX deal sheets kept by hand."""

    kind: Literal["spreadsheet"]
    base_url: str = Field("file:", description="Unused for spreadsheets; set `path` instead")
    path: Path = Field(description="A .csv/.xlsx file, or a folder: every *.csv and *.xlsx in it")
    id_column: str = Field("Deal ID", min_length=1, description="Header of the deal id column")
    modified_column: str | None = Field(
        None, description="Header of a last-modified column; without it the file's mtime is used"
    )
    date_format: str | None = Field(
        None, description="strptime format tried after ISO 8601 for modified_column, e.g. %d/%m/%Y"
    )
    sheet: str | None = Field(None, description="XLSX sheet name; default the first sheet")
    header_row: int | None = Field(
        None,
        ge=1,
        description="1-based header row; default: the first of the first 10 rows "
        "that holds id_column",
    )
    encoding: str = Field(
        "utf-8-sig", description="CSV text encoding (utf-8-sig drops Excel's BOM)"
    )
    delimiter: Literal[",", ";", "\t"] | None = Field(
        None, description="CSV delimiter; default: whichever of , ; or tab reveals the header"
    )
    territory: str | None = Field(None, description="Territory name, added as `_territory`")
    page_size: int = Field(500, ge=1, le=10_000, description="Deals per page handed to the engine")

    @field_validator("path")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"unknown encoding {value!r}; use utf-8-sig, utf-8, cp1252 or latin-1"
            ) from None
        return value

    @field_validator("date_format")
    @classmethod
    def _looks_like_strptime(cls, value: str | None) -> str | None:
        if value is not None and "%" not in value:
            raise ValueError(f"{value!r} is not a strptime format; write e.g. %d/%m/%Y")
        return value
