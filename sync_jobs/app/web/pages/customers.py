"""The customer view: find a customer by name, external id or deal id, then see everything
dealbridge knows about it (deals with links to their source, owned fields, conflicts, audit
trail) and, read from the desk, the note exactly as the agent sees it with what a run would
change (loaded separately, so a slow desk never slows the page)."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from sync_jobs.app.web.guard import require
from sync_jobs.app.web.preview import dry_run
from sync_jobs.app.web.render import render
from sync_jobs.app.web.state import console_state
from sync_jobs.run.runner import compile_mappings
from sync_jobs.store import console_views as views
from sync_jobs.store.db import read_tx


def source_link(url: Any) -> str | None:
    """A deal's link to its CRM, only when it is a web address (never ``javascript:``)."""
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return url
    return None


async def search(request: Request) -> Response:
    """GET /customers?q=: by name (part of it), external id or other identity key, deal id."""
    who = await require(request)
    state = console_state(request)
    text = request.query_params.get("q", "").strip()
    found: list[Any] = []
    deals: list[Any] = []
    if text:
        async with read_tx(state.store) as conn:
            found = await views.find_customers(conn, text)
            deals = await views.deal_rows(conn, text)
    return render(request, "customers.html", who, q=text, found=found, deals=deals)


async def customer(request: Request) -> Response:
    """GET /customers/{target}/{kind:id}; with ?desk=1 only the desk part (the note, the dry
    run), which the page's script fetches after the page itself is shown."""
    who = await require(request)
    state = console_state(request)
    target = str(request.path_params["target"])
    key = str(request.path_params["customer_key"])
    config = state.current_config()
    if target not in config.connectors:
        raise HTTPException(404, f"no target {target!r} in config.yaml")
    if request.query_params.get("desk"):
        return await _desk_part(request, who, target, key)
    async with read_tx(state.store) as conn:
        record = await views.identity_of(conn, target, key)
        deals = await views.deals_of_customer(conn, target, key)
        fields = await views.owned_fields(conn, target, key)
        conflicts = await views.customer_conflicts(conn, target, key)
        trail = await views.customer_audit(conn, target, key)
    return render(
        request,
        "customer.html",
        who,
        target=target,
        key=key,
        record=record,
        deals=[
            (row, source_link(((row.terms or {}).get("deal") or {}).get("url"))) for row in deals
        ],
        fields=fields,
        conflicts=conflicts,
        trail=trail,
    )


async def _desk_part(request: Request, who: Any, target: str, key: str) -> Response:
    state = console_state(request)
    config = state.current_config()
    jobs = [name for name, job in config.jobs.items() if job.target == target]
    mappings, _broken = compile_mappings(config)
    job = next((name for name in jobs if name in mappings), None)
    if job is None:
        return render(request, "desk_part.html", who, result=None, problem="no job writes here")
    result = await dry_run(state, config, mappings, job, key)
    return render(request, "desk_part.html", who, result=result, problem=None)
