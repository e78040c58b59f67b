"""The overview: per job its last run, lag, records written and failing, quarantine, open
conflicts, the alert outbox, and a small chart of its last 50 runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sync_jobs.app.web.guard import require
from sync_jobs.app.web.render import render
from sync_jobs.app.web.state import console_state
from sync_jobs.store import console_views as views
from sync_jobs.store.db import read_tx

CHART_WIDTH, CHART_HEIGHT = 240, 48


@dataclass(frozen=True)
class JobRow:
    """One line of the overview table."""

    name: str
    territory: str
    target: str
    last_run: Any
    lag_seconds: float | None
    written: int
    failing: int
    quarantined: int
    open_conflicts: int
    chart: dict[str, str]


def requests_of(counts: dict[str, Any]) -> int:
    """Vendor requests a run made, as far as its counts say (writes and lookups)."""
    return int(counts.get("write_calls", 0)) + int(counts.get("lookup_keys", 0))


def chart(runs: list[Any]) -> dict[str, str]:
    """SVG polyline points, oldest run left: requests, and freshness (seconds from the previous
    run's start to this run's end: how old the newest data could be when it finished)."""
    ordered = list(reversed(runs))
    requests = [float(requests_of(r.counts or {})) for r in ordered]
    fresh: list[float] = []
    for before, run in zip([None, *ordered[:-1]], ordered, strict=True):
        end: datetime = run.finished_at or run.started_at
        start: datetime = before.started_at if before is not None else run.started_at
        fresh.append(max(0.0, (end - start).total_seconds()))
    return {
        "requests": _points(requests),
        "freshness": _points(fresh),
        "max_requests": f"{max(requests, default=0):.0f}",
        "max_freshness": f"{max(fresh, default=0):.0f}",
    }


def _points(values: list[float]) -> str:
    if not values:
        return ""
    if len(values) == 1:  # one run: a level line, not an invisible single point
        values = values * 2
    top = max(values) or 1.0
    step = CHART_WIDTH / max(1, len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{CHART_HEIGHT - value / top * (CHART_HEIGHT - 2) - 1:.1f}"
        for i, value in enumerate(values)
    )


async def overview(request: Request) -> Response:
    """GET /."""
    who = await require(request)
    state = console_state(request)
    config = state.current_config()
    now = state.clock()
    rows = []
    async with read_tx(state.store) as conn:
        cursors = await views.cursor_times(conn)
        work = await views.work_by_target(conn)
        outbox = await views.outbox_by_status(conn)
        conflicts = await views.open_conflicts_per_job(conn)
        for name, job in config.jobs.items():
            runs = await views.recent_runs(conn, name)
            moved = cursors.get(name)
            rows.append(
                JobRow(
                    name=name,
                    territory=job.territory,
                    target=job.target,
                    last_run=runs[0] if runs else None,
                    lag_seconds=(now - moved).total_seconds() if moved else None,
                    written=int((runs[0].counts or {}).get("customers_written", 0)) if runs else 0,
                    failing=await views.failing_deals(conn, name),
                    quarantined=work.get((job.target, "dead"), 0),
                    open_conflicts=conflicts.get(name, 0),
                    chart=chart(runs),
                )
            )
    return render(
        request,
        "overview.html",
        who,
        rows=rows,
        outbox=outbox,
        queued=sum(n for (_, status), n in work.items() if status == "pending"),
        chart_size=(CHART_WIDTH, CHART_HEIGHT),
    )


async def run_detail(request: Request) -> Response:
    """GET /runs/{id}: one run's outcome (alerts about a run link here)."""
    who = await require(request)
    state = console_state(request)
    async with read_tx(state.store) as conn:
        run = await views.run(conn, str(request.path_params["run_id"]))
    if run is None:
        from starlette.exceptions import HTTPException

        raise HTTPException(404, "no such run")
    return render(request, "run.html", who, run=run)
