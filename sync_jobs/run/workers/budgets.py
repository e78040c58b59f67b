"""How many worker processes a run may have, and each one's share of the desk's budgets."""

from __future__ import annotations

from sync_jobs.config.app import AppConfig

MAX_WORKERS = 64
"""As ``engine.workers`` allows: beyond the cores of any one host."""


def budget_shares(config: AppConfig) -> dict[str, float]:
    """Each desk's share of its budgets in every process of a run: ``1/workers`` for the
    targets of the configured jobs (the processes write to them together), none else."""
    workers = config.engine.workers
    if workers <= 1:
        return {}
    return {job.target: 1.0 / workers for job in config.jobs.values()}
