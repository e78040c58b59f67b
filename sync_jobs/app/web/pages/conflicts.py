"""The conflict queue: filter, look at one conflict in full, decide it with the CLI's choices.

Deciding takes two steps: the choice leads to a page that says what the next run will do
(``resolve.foresee``, the sentence the CLI prints after the fact), and only its Confirm button
records the decision, pinned to the version the person looked at.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sync_jobs.app.resolve import ResolveRefused, foresee, resolve
from sync_jobs.app.web.guard import require, require_change
from sync_jobs.app.web.render import render
from sync_jobs.app.web.state import console_state
from sync_jobs.domain.decisions import TAKES
from sync_jobs.store import console_views as views
from sync_jobs.store.console import record_change
from sync_jobs.store.db import read_tx, write_tx

STATUSES = ("open", "resolved", "superseded")


def take_text(take: str, value: str | None) -> str:
    """The CLI's --take spelling of a choice: ``target``, ``value=15``, ``territory=EMEA``."""
    return f"{take}={value}" if take in ("value", "territory") else take


async def conflict_list(request: Request) -> Response:
    """GET /conflicts?status=&kind=&territory=."""
    who = await require(request)
    state = console_state(request)
    config = state.current_config()
    status = request.query_params.get("status", "open")
    kind = request.query_params.get("kind") or None
    territory = request.query_params.get("territory") or None
    jobs = (
        [name for name, job in config.jobs.items() if job.territory == territory]
        if territory
        else None
    )
    async with read_tx(state.store) as conn:
        rows = await views.conflicts_page(
            conn, status=status or None, kind=kind, territory_jobs=jobs
        )
        kinds = await views.conflict_kinds(conn)
    return render(
        request,
        "conflicts.html",
        who,
        rows=rows,
        kinds=sorted(set(kinds) | set(TAKES)),
        statuses=STATUSES,
        territories=sorted({job.territory for job in config.jobs.values()}),
        chosen={"status": status, "kind": kind or "", "territory": territory or ""},
    )


async def _row(request: Request, conflict_id: int) -> object:
    state = console_state(request)
    async with read_tx(state.store) as conn:
        row = await views.conflict(conn, conflict_id)
    if row is None:
        raise HTTPException(404, f"no conflict {conflict_id}")
    return row


async def conflict_detail(request: Request) -> Response:
    """GET /conflicts/{id}: values, deals, owners, history, and the choices."""
    who = await require(request)
    conflict_id = int(request.path_params["conflict_id"])
    row = await _row(request, conflict_id)
    return render(
        request,
        "conflict.html",
        who,
        row=row,
        takes=TAKES.get(getattr(row, "kind", ""), ()),
        done=request.query_params.get("done"),
    )


async def confirm(request: Request) -> Response:
    """GET /conflicts/{id}/resolve?take=&value=: what the decision would do, and Confirm."""
    who = await require(request, "lead")
    conflict_id = int(request.path_params["conflict_id"])
    row = await _row(request, conflict_id)
    choice = take_text(request.query_params.get("take", ""), request.query_params.get("value"))
    try:
        effect, problem = foresee(row, choice), None
    except ResolveRefused as exc:
        effect, problem = None, str(exc)
    return render(
        request,
        "confirm.html",
        who,
        row=row,
        choice=choice,
        effect=effect,
        problem=problem,
        status_code=200 if problem is None else 409,
    )


async def resolve_conflict(request: Request) -> Response:
    """POST /conflicts/{id}/resolve: record the decision (lead), audited."""
    who, form = await require_change(request, "lead")
    state = console_state(request)
    conflict_id = int(request.path_params["conflict_id"])
    choice = str(form.get("take", ""))
    version = str(form.get("version", ""))
    try:
        outcome = await resolve(
            state.store,
            conflict_id,
            choice,
            by=who.name,
            now=state.clock(),
            expect_version=int(version) if version.isdigit() else None,
            alerts=state.current_config().alerts,
        )
    except ResolveRefused as exc:
        row = await _row(request, conflict_id)
        return render(
            request,
            "confirm.html",
            who,
            row=row,
            choice=choice,
            effect=None,
            problem=str(exc),
            status_code=409,
        )
    async with write_tx(state.store) as conn:
        await record_change(
            conn,
            who.name,
            "conflict_resolved",
            f"conflict:{conflict_id}",
            {"take": choice, "outcome": outcome},
            state.clock(),
        )
    return RedirectResponse(f"/conflicts/{conflict_id}?done=1", status_code=303)
