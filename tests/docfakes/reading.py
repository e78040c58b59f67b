"""Drive a SalesSource the way the engine does: page by page, keeping each page's checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.base import Cursor, DealQuery, SalesSource, SourceDeal


@dataclass
class ReadResult:
    deals: list[SourceDeal] = field(default_factory=list)
    checkpoints: list[Cursor] = field(default_factory=list)
    pages: list[list[SourceDeal]] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [deal.id for deal in self.deals]

    @property
    def last_checkpoint(self) -> Cursor | None:
        return self.checkpoints[-1] if self.checkpoints else None


async def read(
    source: SalesSource,
    query: DealQuery,
    since: Cursor | None = None,
    *,
    max_pages: int | None = None,
) -> ReadResult:
    """Read changed deals; stop after ``max_pages`` pages as a crashed run would."""
    result = ReadResult()
    if max_pages == 0:
        return result
    pages = source.changed_deals(query, since)
    try:
        async for page in pages:
            result.deals += page.deals
            result.pages.append(list(page.deals))
            result.checkpoints.append(page.checkpoint)
            if max_pages is not None and len(result.pages) >= max_pages:
                break
    finally:
        # Stopping early closes the generator, as the engine does when a run ends mid-read.
        close = getattr(pages, "aclose", None)
        if close is not None:
            await close()
    return result
