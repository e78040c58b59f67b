"""What the CLI prints: problems, run reports, status, one deal, conflicts (rich on a terminal)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from textwrap import indent
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.errors import ConfigProblem
from sync_jobs.config.app import AppConfig
from sync_jobs.domain.model import DealTerms
from sync_jobs.run.context import CustomerPreview, utcnow
from sync_jobs.run.runner import RunReport
from sync_jobs.store import conflicts, cursors, deals, outbox, runs
from sync_jobs.store.conflicts import open_conflicts
from sync_jobs.store.db import Connection, make_engine, migrate_async, read_tx
from sync_jobs.store.holds import all_holds
from sync_jobs.store.identity import record_names
from sync_jobs.store.work import failing, pending_count

MAX_SHOWN = 40
MAX_FAILING = 200
"""Failing records ``status`` lists (the count per job is in the table)."""


def print_problems(console: Console, problems: Sequence[ConfigProblem]) -> None:
    """One line per problem: file:line key: message (fix: hint)."""
    console.print(f"[red]{len(problems)} problem(s):[/]")
    for problem in problems:
        console.print(f"  {escape(str(problem))}", soft_wrap=True)


def _short(value: Any, width: int = 60) -> str:
    text = "-" if value is None else str(value).replace("\n", " / ")
    return text if len(text) <= width else text[: width - 3] + "..."


def print_preview(console: Console, preview: CustomerPreview, *, full_notes: bool = False) -> None:
    """The per-customer diff of a run or dry run."""
    title = f"{preview.name or preview.customer_key} ({preview.customer_key})"
    if not preview.changes and not preview.conflicts and not preview.error:
        return
    console.print(f"[bold]{escape(title)}[/]")
    for name, old, new in preview.changes:
        lines = text_diff(old, new, context=None if full_notes else 1)
        if lines is not None:
            # Notes and long text: a line diff with whitespace made visible, since two
            # one-line abbreviations of different notes can look identical.
            console.print(f"  {escape(name)}:")
            for line in lines:
                style = {"-": "red", "+": "green"}.get(line[:1], "")
                text = indent(escape(line), "    ")
                console.print(f"[{style}]{text}[/]" if style else text, highlight=False)
            continue
        console.print(f"  {escape(name)}: {escape(_short(old))} -> {escape(_short(new))}")
    for line in preview.conflicts:
        console.print(f"  [yellow]! {escape(line)}[/]")
    if preview.error:
        console.print(f"  [red]error: {escape(preview.error)}[/]")


_VISIBLE = str.maketrans({"\t": "→", "\r": "␍", "\u00a0": "⍽", "\u200b": "⌧"})


def text_diff(old: Any, new: Any, *, context: int | None = 1) -> list[str] | None:
    """A unified line diff of two texts (None when neither is multi-line or long text).

    ``- │`` lines are the record's, ``+ │`` lines what is written, ``  │`` an unchanged line
    (``context`` of them around each change, ``┆ ...`` between; None: every line). Tabs,
    carriage returns and no-break spaces are shown as symbols and trailing spaces as ``·``,
    so lines that differ only in whitespace do not look alike."""
    texts = [value if isinstance(value, str) else "" for value in (old, new)]
    if not any(isinstance(v, str) and ("\n" in v or len(v) > 60) for v in (old, new)):
        return None
    before, after = (t.splitlines() for t in texts)
    width = max(len(before), len(after)) if context is None else context
    body = list(difflib.unified_diff(before, after, n=width, lineterm=""))[2:]
    if context is None:
        body = [line for line in body if not line.startswith("@@")]
    return [_visible(line) for line in body]


def _visible(line: str) -> str:
    if line.startswith("@@"):
        return "  ┆ ..."
    sign, text = line[:1], line[1:].translate(_VISIBLE)
    stripped = text.rstrip(" ")
    text = stripped + "·" * (len(text) - len(stripped))
    return f"{sign if sign in '+-' else ' '} │ {text}"


def print_report(
    console: Console, report: RunReport, *, seen_notices: set[str] | None = None
) -> None:
    """A run's outcome: status, counts, errors, notices, and the customers it changed."""
    colour = {
        "ok": "green",
        "dry_run": "cyan",
        "record_errors": "yellow",
        "skipped": "cyan",
        "waiting": "yellow",
    }.get(report.status, "red")
    counts = ", ".join(f"{k}={v}" for k, v in sorted(report.counts.items()) if v)
    # "nothing to do" only when there was nothing to do: a failed or waiting run says why below.
    quiet = "nothing to do" if report.status in ("ok", "dry_run") else "no work done"
    console.print(f"[{colour}]{report.job}: {report.status}[/] ({counts or quiet})")
    for preview in report.previews[:MAX_SHOWN]:
        print_preview(console, preview, full_notes=report.status == "dry_run")
    more = len(report.previews[MAX_SHOWN:]) + report.previews_omitted
    if more:
        console.print(f"  ... and {more} more customers")
    for notice in report.notices:
        if seen_notices is not None and notice in seen_notices:
            continue  # the same fact every run: say it once
        console.print(f"  [cyan]notice:[/] {escape(notice)}")
        if seen_notices is not None:
            seen_notices.add(notice)
    for error in report.errors[:MAX_SHOWN]:
        console.print(f"  [red]error:[/] {escape(error)}", soft_wrap=True)


async def gather_status(config: AppConfig) -> dict[str, Any]:
    """Per job: last run, last success, lag; plus queue depth, open conflicts, the records in
    failure with their last error, and connectors waiting for a spent vendor budget."""
    await migrate_async(config.state.url)
    engine = make_engine(config.state.url)
    now = utcnow()
    try:
        async with read_tx(engine) as conn:
            jobs = {name: await _job_status(conn, name) for name in config.jobs}
            queue = await pending_count(conn)
            by_kind = await conflicts.open_counts(conn)
            failing_records = await _failing_records(conn)
            on_hold = [h for h in await all_holds(conn) if h.until > now]
    finally:
        await engine.dispose()
    waiting = [
        {
            "connector": h.connector,
            "budget": h.reason,
            "until": h.until,
            "since": h.since,
            "jobs": [n for n, j in config.jobs.items() if h.connector in (j.source, j.target)],
        }
        for h in on_hold
    ]
    return {
        "jobs": jobs,
        "queue": queue,
        "open_conflicts": by_kind,
        "failing": failing_records,
        "waiting": waiting,
    }


async def _failing_records(conn: Connection) -> list[dict[str, Any]]:
    """Customers whose write failed (waiting to be retried, or parked), with the last error."""
    rows = await failing(conn)
    names: dict[str, str] = {}
    for target in {r.target for r in rows}:
        keys = [r.customer_key for r in rows if r.target == target]
        names |= {f"{target}/{k}": v for k, v in (await record_names(conn, target, keys)).items()}
    return [
        {
            "target": r.target,
            "customer": r.customer_key,
            "name": names.get(f"{r.target}/{r.customer_key}", ""),
            "state": "quarantined" if r.status == "dead" else "retrying",
            "attempts": r.attempts,
            "next_try": None if r.status == "dead" else r.not_before,
            "last_error": r.last_error,
        }
        for r in rows[:MAX_FAILING]
    ]


async def _job_status(conn: Connection, job: str) -> dict[str, Any]:
    recent = await runs.recent_runs(conn, job, limit=5)
    ok = await runs.last_success(conn, job)
    cursor = await cursors.cursor_moved_at(conn, job)
    failing = await deals.failing_deal_count(conn, job)
    open_count = await conflicts.open_count_of_job(conn, job)
    return {
        "open_conflicts": open_count,
        "last_success": ok,
        "lag_seconds": int((utcnow() - cursor).total_seconds()) if cursor else None,
        "failing_records": failing,
        "runs": [
            {
                "started": r.started_at,
                "status": r.status,
                "counts": r.counts,
                "errors": r.errors[:3],
                "notices": r.notices,
            }
            for r in recent
        ],
    }


def print_status(console: Console, data: dict[str, Any]) -> None:
    """The status table."""
    table = Table(title="dealbridge status")
    for column in (
        "job",
        "last run",
        "status",
        "last success",
        "lag",
        "conflicts",
        "failing",
        "errors",
    ):
        table.add_column(column)
    for job, info in data["jobs"].items():
        last = info["runs"][0] if info["runs"] else None
        table.add_row(
            job,
            str(last["started"])[:19] if last else "never",
            last["status"] if last else "-",
            str(info["last_success"] or "-")[:19],
            f"{info['lag_seconds']}s" if info["lag_seconds"] is not None else "-",
            str(info["open_conflicts"]),
            str(info["failing_records"]),
            escape(_short("; ".join(last["errors"]), 80)) if last else "",
        )
    console.print(table)
    console.print(
        f"queue: {data['queue'] or 'empty'}; open conflicts: {data['open_conflicts'] or 'none'}"
    )
    for hold in data.get("waiting", []):
        console.print(
            f"[yellow]waiting:[/] {escape(hold['connector'])}'s {escape(hold['budget'])} is spent "
            f"(since {hold['since']:%Y-%m-%d %H:%M} UTC); jobs {', '.join(hold['jobs'])} "
            f"run again at {hold['until']:%Y-%m-%d %H:%M} UTC",
            soft_wrap=True,
        )
    for item in data.get("failing", []):
        who = f"{item['name']} ({item['customer']})" if item["name"] else item["customer"]
        when = (
            f"next try {item['next_try']:%Y-%m-%d %H:%M:%S} UTC"
            if item["next_try"]
            else f"dealbridge quarantine retry {item['customer']}"
        )
        console.print(
            f"[red]failing:[/] {escape(item['target'])} {escape(who)}: {item['state']} after "
            f"{item['attempts']} attempt(s), {escape(when)}; last error: "
            f"{escape(str(item['last_error']))}",
            soft_wrap=True,
        )
    for job, info in data["jobs"].items():
        for notice in info["runs"][0]["notices"] if info["runs"] else []:
            console.print(f"[cyan]{job} notice:[/] {escape(notice)}")


async def print_deal(console: Console, config: AppConfig, deal_id: str) -> bool:
    """Show one deal as stored; False when it is unknown."""
    engine = make_engine(config.state.url)
    try:
        async with read_tx(engine) as conn:
            rows = await deals.deals_with_id(conn, deal_id)
    finally:
        await engine.dispose()
    if not rows:
        console.print(f"[red]no deal {deal_id!r} in the state store[/]")
        return False
    for row in rows:
        console.print(
            f"[bold]{row.job}/{row.deal_id}[/] territory={row.territory} "
            f"match={row.match_status} record={row.customer_key or '-'} "
            f"live={row.live} deleted={row.deleted}"
        )
        if row.error:
            console.print(f"  [red]error:[/] {escape(row.error)}")
        for key, value in _in_field_order(row.terms or {}):
            if value not in (None, [], {}, ""):
                console.print(f"  {key}: {escape(str(value))}")
    return True


_FIELD_ORDER = {name: place for place, name in enumerate(DealTerms.model_fields)}


def _in_field_order(terms: dict[str, Any]) -> list[tuple[str, Any]]:
    """Stored terms in the order of the terms' fields (stage 1 stores their keys sorted,
    earlier versions in field order): a deal reads the same whichever stored it; a key that
    is no field keeps its place after them."""
    last = len(_FIELD_ORDER)
    return sorted(terms.items(), key=lambda item: _FIELD_ORDER.get(item[0], last))


async def print_conflicts(
    console: Console, config: AppConfig, status: str | None, kind: str | None
) -> None:
    """The conflict list."""
    engine = make_engine(config.state.url)
    try:
        async with read_tx(engine) as conn:
            rows = await open_conflicts(conn, kind=kind, status=status)
    finally:
        await engine.dispose()
    console.print(conflicts_table(rows))


def conflicts_table(rows: Sequence[Any]) -> Table:
    """The conflict list as a table whose ids are never cut: the id column does not wrap,
    and record and field keys fold onto further lines rather than end in an ellipsis (they
    are what ``conflicts show`` and ``deals show`` take)."""
    table = Table(title="conflicts")
    table.add_column("id", no_wrap=True)
    for column in ("kind", "status", "record", "field", "summary"):
        table.add_column(column, overflow="fold")
    table.add_column("last seen")
    for row in rows:
        details = row.details or {}
        summary = details.get("summary") or details.get("deal_name") or ""
        table.add_row(
            str(row.id),
            row.kind,
            row.status,
            row.customer_key or f"deal {details.get('deal', '-')}",
            row.field or "-",
            escape(_short(summary, 70)),
            str(row.last_seen)[:19],
        )
    return table


async def print_conflict(console: Console, config: AppConfig, conflict_id: int) -> bool:
    """Show one conflict; False when it does not exist."""
    engine = make_engine(config.state.url)
    try:
        async with read_tx(engine) as conn:
            row = await conflicts.conflict(conn, conflict_id)
    finally:
        await engine.dispose()
    if row is None:
        console.print(f"[red]no conflict {conflict_id}[/]")
        return False
    console.print(f"[bold]conflict {row.id}[/] {row.kind} ({row.status}, version {row.version})")
    console.print(f"  record: {row.customer_key or '-'}  field: {row.field or '-'}")
    console.print(
        f"  first seen {row.first_seen:%Y-%m-%d %H:%M}, last seen "
        f"{row.last_seen:%Y-%m-%d %H:%M} UTC"
    )
    for key, value in (row.details or {}).items():
        console.print(f"  {key}: {escape(_short(value, 100))}")
    if row.resolution:
        console.print(f"  resolution: {escape(str(row.resolution))}")
    if row.status == "open":
        from sync_jobs.domain.decisions import TAKES

        options = " | ".join(TAKES.get(row.kind, ()))
        console.print(
            f"  resolve: dealbridge conflicts resolve {row.id} --take <{options}> "
            f"--expect-version {row.version}"
        )
    return True


async def print_outbox(console: Console, config: AppConfig, status: str | None) -> None:
    """The alert outbox table."""
    await migrate_async(config.state.url)
    engine = make_engine(config.state.url)
    try:
        async with read_tx(engine) as conn:
            rows = await outbox.newest(conn, status, limit=200)
    finally:
        await engine.dispose()
    table = Table(title="alert outbox")
    for column in ("id", "channel", "status", "attempts", "title", "sent / next try", "error"):
        table.add_column(column)
    for row in rows:
        when = row.sent_at if row.status == "sent" else row.next_attempt_at
        table.add_row(
            str(row.id),
            row.channel,
            row.status,
            str(row.attempts),
            escape(_short(row.payload.get("title"), 60)),
            str(when)[:19],
            escape(_short(row.last_error, 60)) if row.last_error else "",
        )
    console.print(table)
