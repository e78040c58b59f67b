"""``dealbridge demo``: the whole product on in-process simulators, narrated for a newcomer.

The shipped config's territories (Salesforce West, HubSpot EMEA, a spreadsheet kept by APAC)
flow into one simulated service desk, any desk the registry has a simulator for. The demo
shows deals pulled, matched and written; the note an agent reads; what dealbridge refuses to
guess; a re-run that writes nothing; an agent edit that is held instead of overwritten; two
territories that disagree; and both conflicts resolved.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from connectors.base import RecordChange, RecordRef, ServiceTarget
from connectors.http import ALL_STATS
from sandbox.world import SandboxWorld, build_world, credentials
from sync_jobs.app.report import print_report
from sync_jobs.app.resolve import resolve
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import Engine, utcnow
from sync_jobs.run.runner import open_engine, run_job
from sync_jobs.store import conflicts, identity
from sync_jobs.store.db import read_tx

SEEN: set[str] = set()


async def run_demo(
    console: Console,
    target: str,
    state_dir: Path,
    jobs: Sequence[str] | None = None,
    *,
    fast: bool = False,
) -> int:
    """Run the narrated demo of ``jobs`` (default: the shipped territories) into ``target``
    (``fast``: the vendors' budgets lifted, for tests); return 0 when every step behaved as
    described."""
    shutil.rmtree(state_dir, ignore_errors=True)
    os.environ.update(credentials(target, jobs))  # the sandbox's demo credentials, not secrets
    world = build_world(state_dir.resolve(), target, jobs=jobs, fast=fast)
    engine = await open_engine(world.config)
    connections = Connections(world.config.connectors, world.transports())
    try:
        return await _story(console, world, engine, connections)
    finally:
        await connections.aclose()
        await engine.store.dispose()


async def _story(
    console: Console, world: SandboxWorld, engine: Engine, connections: Connections
) -> int:
    desk = connections.target(world.target)
    console.print(
        Panel.fit(
            f"dealbridge demo: {len(world.config.jobs)} territories -> {world.target}, every "
            "system simulated in "
            f"this process (nothing leaves the machine). State: {world.folder}/state.db"
        )
    )
    _step(console, 1, "First sync: pull, map, match and write every territory's deals")
    jobs = tuple(world.config.jobs)
    await _run_all(console, engine, connections, jobs)
    acme = await _record_key(engine, world.target, "Acme Corporation")
    _step(console, 2, "What the agent sees on Acme Corporation (deals from West and EMEA)")
    await _show_record(console, desk, acme)
    _step(console, 3, "What dealbridge refused to guess or to write without a person")
    await _show_conflicts(console, engine)
    _step(console, 4, "Re-run with nothing changed")
    writes = _write_requests(world.target)
    await _run_all(console, engine, connections, jobs, quiet=True)
    extra = _write_requests(world.target) - writes
    console.print(f"  write requests to {world.target}: [bold]{extra}[/] (nothing changed)")
    _step(console, 5, "An agent edits Hooli's discount; then the APAC rep changes the deal")
    hooli = await _record_key(engine, world.target, "Hooli")
    field = _discount_field(engine)
    await desk.write([RecordChange(ref=RecordRef.from_key(hooli), fields={field: 11})])
    _edit_sheet(world.sheets / "apac-deals.csv", "APAC-17", "Discount %", "15")
    report = await run_job(engine, connections, "apac")
    print_report(console, report, seen_notices=SEEN)
    await _show_record(console, desk, hooli, fields=(field,))
    _step(console, 6, "Service lead resolves both conflicts; the next run applies them")
    await _resolve(console, engine, "target_edited", hooli, "source")
    await _resolve(console, engine, "territory_disagreement", acme, "territory=West")
    await _run_all(console, engine, connections, jobs, quiet=True)
    await _show_record(console, desk, hooli, fields=(field,))
    await _show_record(console, desk, acme, fields=(field,))
    _step(console, 7, "Cost")
    _show_cost(console, world)
    return 0


def _step(console: Console, number: int, title: str) -> None:
    console.print(f"\n[bold cyan]{number}. {title}[/]")


async def _run_all(
    console: Console,
    engine: Engine,
    connections: Connections,
    jobs: tuple[str, ...],
    *,
    quiet: bool = False,
) -> None:
    for job in jobs:
        report = await run_job(engine, connections, job)
        if quiet:
            console.print(f"  {job}: {report.status}")
        else:
            print_report(console, report, seen_notices=SEEN)


async def _record_key(engine: Engine, target: str, name: str) -> str:
    async with read_tx(engine.store) as conn:
        key = await identity.record_key_named(conn, target, name)
    if key is None:
        raise LookupError(f"{name} is not in {target}'s identity index")
    return key


async def _show_record(
    console: Console, desk: ServiceTarget, key: str, fields: tuple[str, ...] | None = None
) -> None:
    (record,) = await desk.read([RecordRef.from_key(key)])
    shown = {k: v for k, v in record.fields.items() if fields is None or k in fields}
    lines = []
    for name, value in sorted(shown.items()):
        if value in (None, ""):
            continue
        text = str(value)
        lines.append(
            f"[bold]{escape(name)}[/]:\n{escape(text)}"
            if "\n" in text
            else f"[bold]{escape(name)}[/]: {escape(text)}"
        )
    console.print(
        Panel(
            "\n".join(lines) or "(no synced fields)", title=f"{record.name} ({key})", expand=False
        )
    )


async def _show_conflicts(console: Console, engine: Engine) -> None:
    async with read_tx(engine.store) as conn:
        rows = await conflicts.open_conflicts_in_order(conn)
    for row in rows:
        summary = (row.details or {}).get("summary") or _deal_line(row.details or {})
        console.print(f"  [yellow]#{row.id} {row.kind}[/] {escape(str(summary))}")


def _deal_line(details: dict[str, Any]) -> str:
    parts = [f"deal {details.get('deal')} ({details.get('account') or '?'})"]
    if details.get("candidates"):
        parts.append("candidates: " + ", ".join(details["candidates"]))
    if details.get("violations"):
        parts.append("; ".join(details["violations"]))
    return ", ".join(parts)


def _write_requests(connector: str) -> int:
    stats = ALL_STATS.get(connector)
    return stats.writes if stats else 0


def _discount_field(engine: Engine) -> str:
    rules = engine.mappings["apac"].spec.write
    return next(name for name, rule in rules.items() if rule.value == "discount_percent")


def _edit_sheet(path: Path, deal_id: str, column: str, value: str) -> None:
    """What the APAC rep does in the spreadsheet: change one cell (and the modified time)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["Deal ID"] == deal_id:
            row[column] = value
            row["Last Modified"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


async def _resolve(console: Console, engine: Engine, kind: str, key: str, take: str) -> None:
    async with read_tx(engine.store) as conn:
        conflict_id = await conflicts.oldest_open_conflict(conn, kind, key)
    if conflict_id is None:
        console.print(f"  [red]expected an open {kind} conflict on {key}[/]")
        return
    outcome = await resolve(
        engine.store,
        conflict_id,
        take,
        by="demo service lead",
        now=utcnow(),
        alerts=engine.config.alerts,
    )
    console.print(f"  $ dealbridge conflicts resolve {conflict_id} --take {take}\n    {outcome}")


def _show_cost(console: Console, world: SandboxWorld) -> None:
    desk = ALL_STATS.get(world.target)
    if desk is None:
        return
    console.print(
        f"  {world.target}: {desk.total} requests in all "
        f"({desk.writes} writes, {desk.total - desk.writes} reads), "
        f"{desk.throttled} throttled"
    )
    for name in dict.fromkeys(job.source for job in world.config.jobs.values()):
        stats = ALL_STATS.get(name)
        if stats is not None:
            console.print(f"  {name}: {stats.total} requests")
