"""Where stage 1 hands the pages it reads when the run has helper processes beside it.

A run alone maps, matches and commits each page where it reads it. With helpers, the lead's
``workers.pages.PageSpreader`` takes the pages instead: each page's deals are committed by
whichever process is free, and the job's cursor passes a page only once it and every page
before it are committed (C1). The run holds the slot (``JobRun.spreading``); stage 1 reads
it through its context, the team fills it when its helpers start.

A backfill reads while the desk's identity export still runs (``stage1._read_spread``): its
pages are handed *held* (mapped by the helpers at once, matched by nobody), until stage 1
decides whether they are matched (the index is whole) or stored pending for the match pass
(the export waited, or failed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from connectors.base import SourceDeal

if TYPE_CHECKING:
    from sync_jobs.run.pass_order import PassOrder
    from sync_jobs.run.stage1 import Stage1


class Spreader(Protocol):
    """Commits a run's pages of deals over its processes."""

    async def hand(self, ctx: Stage1, deals: Sequence[SourceDeal], checkpoint: str) -> None:
        """Commit ``deals`` (here or in a helper); the cursor reaches ``checkpoint`` once
        they and every deal handed before them are committed."""

    async def finish(self, ctx: Stage1) -> None:
        """Until every deal handed is committed and the cursor is past them all (deals held
        undecided: once decided)."""

    def hold(self) -> None:
        """Deals handed from now on are mapped but neither matched nor committed until
        :meth:`decide`."""

    def decide(self, defer: PassOrder | None) -> None:
        """Deals held, and every deal handed from now on: matched against the whole index
        (None), or stored pending for the match pass in ``defer``'s order."""


@dataclass
class Spreading:
    """The run's spreader while its helpers run (None: stage 1 commits every page itself)."""

    spreader: Spreader | None = None
