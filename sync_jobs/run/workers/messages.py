"""What crosses between a run's processes: the spec a helper is spawned with, and the report
it sends back to the lead (both pickled)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from connectors.errors import BudgetExhausted
from sync_jobs.config.app import AppConfig
from sync_jobs.domain.mapping import Mapping
from sync_jobs.run.context import CustomerPreview
from sync_jobs.run.control import Checkpoint
from sync_jobs.store.leases import Grant


@dataclass(frozen=True)
class HelperSpec:
    """What a helper process needs: pickled into it when it is spawned."""

    config: AppConfig
    job: str
    run_id: str
    """The lead's run: the helper's audit rows carry it."""
    holder: str
    """Who the helper claims as (the lead's replica id and the helper's number): the lead
    releases a dead helper's claims by it."""
    log: tuple[str, str]
    """Log format and level, as the lead's process was configured."""
    grant: Grant | None = None
    """The lead's job lease: the stage-1 units a helper commits are fenced on it."""
    checkpoint: Checkpoint | None = None
    """Called at the helper's commit points (tests: a module-level function, so it pickles)."""
    mappings: dict[str, Mapping] = field(default_factory=dict, repr=False)
    """The lead's compiled mappings: the helper maps with exactly these (a mapping file saved
    during the run is the next run's), and does not parse and check the files again."""
    environment: dict[str, str] = field(default_factory=dict, repr=False)
    """The lead's environment when it started the helper (a helper forked from the fork
    server would otherwise see the server's; see ``launch``). Never shown: it holds secrets."""


@dataclass
class HelperReport:
    """What a helper did, sent to the lead when it ends."""

    counts: dict[str, int]
    errors: list[str]
    notices: list[str]
    previews: list[CustomerPreview]
    previews_omitted: int
    cpu_seconds: float = 0.0
    """The helper process's CPU time when it reported: all it spent (its own start-up too)."""
    failure: BaseException | SpentBudget | str | None = None
    """What stopped it early: the exception itself when it travels between processes, a
    spent budget as its parts (it stays a ``BudgetExhausted`` on the lead), else its message."""
    desk_problems: frozenset[str] = frozenset()
    """Its desk records that did not read (the lead reports each once a run)."""


@dataclass(frozen=True)
class SpentBudget:
    """A helper's ``BudgetExhausted`` on its way to the lead (its keyword-only constructor
    does not unpickle)."""

    message: str
    until: datetime
    exact: bool
    budget: str
    connector: str
    operation: str

    @classmethod
    def of(cls, exc: BudgetExhausted) -> SpentBudget:
        """The parts of ``exc``."""
        return cls(exc.message, exc.until, exc.exact, exc.budget, exc.connector, exc.operation)

    def error(self) -> BudgetExhausted:
        """The exception again, as the lead's run records it (a hold until ``until``)."""
        return BudgetExhausted(
            self.message,
            until=self.until,
            exact=self.exact,
            budget=self.budget,
            connector=self.connector,
            operation=self.operation,
        )
