"""One customer as the desk shows it now, and what a run would change on it: a dry run.

The customer page uses the running mappings; the mapping editor passes the mapping being
edited, so its preview shows what saving it would do. Nothing is written anywhere: the run
is a dry run (no lease, no store writes, no desk writes), planned by the engine's own stage 2.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from connectors.base import CustomerRecord, RecordRef
from connectors.errors import ConnectorError
from sync_jobs.app.web.state import ConsoleState
from sync_jobs.config.app import AppConfig
from sync_jobs.domain.mapping import Mapping
from sync_jobs.run import stage2
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import CustomerPreview, Engine, JobRun, RunState
from sync_jobs.run.wiring import stage2_of


@dataclass
class DryRun:
    """The record as read from the desk, and the planned change (None: nothing to change)."""

    record: CustomerRecord | None
    note_field: str | None
    change: CustomerPreview | None
    problems: list[str] = field(default_factory=list)

    @property
    def current_note(self) -> Any:
        """The note field exactly as the desk holds it (what the agent sees)."""
        if self.record is None or self.note_field is None:
            return None
        return self.record.fields.get(self.note_field)


async def dry_run(
    state: ConsoleState,
    config: AppConfig,
    mappings: dict[str, Mapping],
    job: str,
    customer_key: str,
) -> DryRun:
    """Read the customer's record from the desk and plan it, writing nothing."""
    job_config = config.jobs[job]
    mapping = mappings.get(job)
    note_field = mapping.spec.note.field if mapping is not None else None
    engine = Engine(config=config, store=state.store, mappings=mappings, clock=state.clock)
    connections = Connections(config.connectors, state.transports)
    run_state = RunState(run_id=uuid.uuid4().hex, job=job, dry_run=True, started_at=state.clock())
    try:
        run = JobRun(
            engine,
            job,
            connections.source(job_config.source),
            connections.target(job_config.target),
            run_state,
        )
        (record,) = await run.target.read([RecordRef.from_key(customer_key)]) or (None,)
        if record is not None and record.problem is not None:  # the desk's answer did not read
            return DryRun(None, note_field, None, [record.problem])
        if mapping is None:
            return DryRun(record, None, None, [f"job {job} has no valid mapping"])
        await stage2.preview(stage2_of(run), {customer_key}, with_queued=False)
    except ConnectorError as exc:
        return DryRun(None, note_field, None, [f"the desk could not be read: {exc}"])
    finally:
        await connections.aclose()
    change = next((p for p in run_state.previews if p.customer_key == customer_key), None)
    return DryRun(record, note_field, change, run_state.errors)
