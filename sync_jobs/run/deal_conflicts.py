"""Deal conflicts (unmatched, ambiguous, out of policy): raised, updated and closed with the
commit that decides them, their alerts queued in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync_jobs.alerts.outbox import notify
from sync_jobs.alerts.routing import AlertsConfig
from sync_jobs.domain.model import DealTerms, MatchResult
from sync_jobs.run.context import RunState
from sync_jobs.run.control import Clock
from sync_jobs.store.conflicts import ConflictRecord, close_missing, raise_conflicts
from sync_jobs.store.db import Connection

DEAL_KINDS = ("unmatched", "ambiguous", "out_of_policy")
REPORTED = ("unmatched", "ambiguous")
"""Match outcomes raised as conflicts (``pending`` waits, silently, for its lookup)."""


@dataclass(frozen=True)
class DealConflicts:
    """One target's deal conflicts, for one run."""

    target_name: str
    alerts: AlertsConfig
    clock: Clock
    state: RunState

    def match_conflict(
        self, terms: DealTerms, match: MatchResult, why: dict[str, Any] | None = None
    ) -> ConflictRecord:
        """An unmatched or ambiguous deal, to be resolved by a person (of any job of the
        target)."""
        account = terms.account
        return ConflictRecord(
            kind=match.status,
            target=self.target_name,
            customer_key=None,
            field=None,
            scope=f"{terms.deal.job}/{terms.deal.id}",
            details=(why or {})
            | {
                "deal": terms.deal.id,
                "job": terms.deal.job,
                "territory": terms.deal.territory,
                "deal_name": terms.name,
                "account": account.name,
                "identity": account.model_dump(mode="json", exclude={"name", "phone"}),
                "candidates": list(match.candidates),
                "owner": terms.owner_email,
                "url": terms.deal.url,
            },
        )

    async def settle(
        self,
        conn: Connection,
        found: list[ConflictRecord],
        settled: list[str],
        *,
        kinds: tuple[str, ...] = DEAL_KINDS,
    ) -> None:
        """Raise (or update) deal conflicts and close those (of ``kinds``) of ``settled``
        deals not found again."""
        now = self.clock()
        changed = await raise_conflicts(conn, found, now)
        self.state.counts["conflicts_raised"] += len(changed)
        closed = await close_missing(
            conn,
            self.target_name,
            settled,
            kinds,
            [c.identity for c in found],
            now,
            by_customer=False,
        )
        await notify(conn, self.alerts, now, changed=changed, closed=closed)
