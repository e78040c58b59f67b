"""The order a backfill's match pass reads the deals stage 1 stored pending, decided once a
backfill: by account (stage 2 writes beside the pass), or by deal id (stage 2 after it).

By account, every deal of one account sits on one page of the pass (``deal.account_key``,
``ix_deal_match_account``), so its customer is decided once, queued with all its deals, and
stage 2 may write it as soon as that page commits. That overlap is what a budget-bound
backfill needs: its desk's write budget is spent while the pass still runs (issue 19 point
3). But it costs CPU: the pass then reads and updates deals, and stage 2 claims customers,
in an order unrelated to where their rows and index entries sit (about 8 % of a CPU-bound
run's deals per CPU second, bench/analysis.md). A backfill whose export never waited is
bound by the CPU, where starting stage 2 early gains nothing on one core: its export ended
before the first deal was read, so its deals are matched as they are read and none waits
for a pass (``stage1._read_after``). By deal id (an empty key) is left for deals read while
an export that then failed ran: a later run's pass pages them as before migration 0009.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from enum import Enum
from operator import attrgetter

from sync_jobs.domain.mapping import IdentityRule
from sync_jobs.domain.matching import match_order
from sync_jobs.domain.model import AccountIdentity


class PassOrder(Enum):
    """How a backfill's match pass pages its pending deals (see the module doc)."""

    BY_DEAL = "deal"
    """Deal id order (every key empty); stage 2 starts once stage 1 is done."""
    BY_ACCOUNT = "account"
    """Account order (each deal keyed by :func:`account_key`); stage 2 starts with the pass."""

    @classmethod
    def of_backfill(cls, *, export_waited: bool) -> PassOrder:
        """By account only when the desk's identity export waited for its budget: the desk's
        budgets bind this backfill, so writing while the pass goes on shortens it."""
        return cls.BY_ACCOUNT if export_waited else cls.BY_DEAL

    @property
    def writes_during_pass(self) -> bool:
        """Whether stage 2 may write from the pass's first page (each page holds whole
        accounts, so a customer is queued once with all its deals)."""
        return self is PassOrder.BY_ACCOUNT

    def key(self, account: AccountIdentity, rules: Sequence[IdentityRule]) -> str:
        """The ``account_key`` stored with a pending deal of ``account``."""
        return account_key(account, rules) if self is PassOrder.BY_ACCOUNT else ""


def account_key(account: AccountIdentity, rules: Sequence[IdentityRule]) -> str:
    """A digest of the first identity key ``rules`` try for ``account`` (empty: it has none).
    Deals of one account share it and land on one customer: the match pass reads them on
    one page. Only a grouping: two accounts that reach one customer by different keys are
    still right (that customer is queued by both pages).

    The first key a rule tries is the least value of the first match type (in the rules'
    order) the account has values of: read from the account's own tuples, not from the set
    of every key ``wanted_keys`` builds (a deal's hot path)."""
    for match in match_order(rules):
        values = _ACCOUNT_VALUES[match](account)
        if values:
            return hashlib.blake2b(f"{match}:{min(values)}".encode(), digest_size=16).hexdigest()
    return ""


_ACCOUNT_VALUES: dict[str, Callable[[AccountIdentity], tuple[str, ...]]] = {
    "external_id": attrgetter("external_ids"),
    "email": attrgetter("emails"),
    "domain": attrgetter("domains"),
}
"""An account's identity values of each match type (as ``wanted_keys`` reads them)."""
