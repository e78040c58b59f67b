"""From one job's run to the explicit dependencies each stage takes.

The runner owns a :class:`~sync_jobs.run.context.JobRun` (engine, connectors, lease, state);
the stages never see it: each gets a small context holding exactly what it uses, built here.
"""

from __future__ import annotations

from datetime import timedelta

from sync_jobs.domain.durations import parse_duration
from sync_jobs.domain.mapping import NoteRule
from sync_jobs.run.context import JobRun
from sync_jobs.run.deal_conflicts import DealConflicts
from sync_jobs.run.desk_edits import DeskEdits
from sync_jobs.run.lookups import Desk
from sync_jobs.run.recheck import Relinking
from sync_jobs.run.stage1 import Stage1
from sync_jobs.run.stage2 import Stage2


def desk_of(run: JobRun) -> Desk:
    """The run's target, for identity lookups within its budget."""
    engine = run.engine
    return Desk(
        job=run.job,
        target_name=run.target_name,
        target=run.target,
        store=engine.store,
        clock=engine.clock,
        state=run.state,
        lookups_per_run=engine.config.engine.lookups_per_process,
    )


def conflicts_of(run: JobRun) -> DealConflicts:
    """The run's target's deal conflicts, alerted through the configured routes."""
    engine = run.engine
    return DealConflicts(run.target_name, engine.config.alerts, engine.clock, run.state)


def stage1_of(run: JobRun) -> Stage1:
    """Stage 1 of the run's job."""
    engine = run.engine
    return Stage1(
        job=run.job,
        mapping=run.mapping,
        source=run.source,
        target_name=run.target_name,
        target=run.target,
        store=engine.store,
        clock=engine.clock,
        state=run.state,
        control=run.control(),
        desk=desk_of(run),
        conflicts=conflicts_of(run),
        index_fresh_for=parse_duration(engine.config.engine.index_refresh_every),
        edits=desk_edits_of(run),
        spreading=run.spreading,
    )


def desk_edits_of(run: JobRun) -> DeskEdits:
    """The run's search for agent edits, with the desk's doorbell rings taken (a dry run
    leaves them for a real one)."""
    engine = run.engine
    named = None if run.state.dry_run else engine.desk_bells.take(run.target_name)
    return DeskEdits(
        target_name=run.target_name,
        note_field=run.mapping.spec.note.field,
        named=named,
        store=engine.store,
        clock=engine.clock,
        state=run.state,
    )


def stage2_of(run: JobRun) -> Stage2:
    """Stage 2 for the run's target."""
    engine = run.engine
    settings = engine.config.engine
    return Stage2(
        job=run.job,
        target_name=run.target_name,
        target=run.target,
        target_config=engine.config.connectors[run.target_name],
        store=engine.store,
        clock=engine.clock,
        state=run.state,
        control=run.control(),
        replica_id=engine.replica_id,
        write_workers=settings.write_workers,
        claim_timeout=timedelta(seconds=parse_duration(settings.work_claim_timeout)),
        max_attempts=settings.max_attempts,
        alerts=engine.config.alerts,
        mappings=engine.mappings,
        note=note_rule(run),
        mapping_folder=engine.mapping_folder,
        templates=engine.note_templates,
        catalog=run.catalog,
        relink=Relinking(engine.mappings, desk_of(run), conflicts_of(run)),
    )


def note_rule(run: JobRun) -> NoteRule:
    """The note placement shared by every job of the run's target (validate checks they
    agree)."""
    engine = run.engine
    for job in engine.jobs_for_target(run.target_name):
        if job in engine.mappings:
            return engine.mappings[job].spec.note
    return run.mapping.spec.note
