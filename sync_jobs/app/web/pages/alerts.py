"""The alert outbox: pending, sent and failed (parked) alerts, and retrying one (lead)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sync_jobs.alerts.outbox import retry_now
from sync_jobs.app.web.guard import require, require_change
from sync_jobs.app.web.render import render
from sync_jobs.app.web.state import console_state
from sync_jobs.store import console_views as views
from sync_jobs.store.console import record_change
from sync_jobs.store.db import read_tx, write_tx

SHOWN = {"pending": "pending", "failed": "dead", "sent": "sent"}
"""The page's filter names and the outbox statuses they mean (parked alerts are ``dead``)."""


async def alert_list(request: Request) -> Response:
    """GET /alerts?show=pending|failed|sent."""
    who = await require(request)
    state = console_state(request)
    show = request.query_params.get("show", "")
    async with read_tx(state.store) as conn:
        rows = await views.outbox_page(conn, SHOWN.get(show))
        counts = await views.outbox_by_status(conn)
    return render(
        request,
        "alerts.html",
        who,
        rows=rows,
        show=show if show in SHOWN else "",
        counts=counts,
        done=request.query_params.get("done"),
    )


async def retry(request: Request) -> Response:
    """POST /alerts/{id}/retry: queue a parked or failing alert again (lead), audited."""
    who, _form = await require_change(request, "lead")
    state = console_state(request)
    outbox_id = int(request.path_params["outbox_id"])
    now = state.clock()
    if not await retry_now(state.store, outbox_id, now):
        return RedirectResponse("/alerts?done=none", status_code=303)
    async with write_tx(state.store) as conn:
        await record_change(conn, who.name, "alert_retried", f"alert:{outbox_id}", None, now)
    return RedirectResponse("/alerts?done=retried", status_code=303)
