"""The mapping editor (admin): edit a job's mapping YAML, see every problem at its line as
``dealbridge validate --offline`` reports it, preview the note and field changes for one
customer as a dry run with the edited mapping, and save (atomically, with a backup)."""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from connectors.errors import ConfigProblem
from sync_jobs.app.report import text_diff
from sync_jobs.app.web.guard import Who, require, require_change
from sync_jobs.app.web.mapping_files import check_text, compiled, save_atomically
from sync_jobs.app.web.preview import DryRun, dry_run
from sync_jobs.app.web.render import render
from sync_jobs.app.web.state import console_state
from sync_jobs.run.runner import compile_mappings
from sync_jobs.store.console import record_change
from sync_jobs.store.db import write_tx

MAX_MAPPING_BYTES = 256_000


def numbered(text: str, problems: list[ConfigProblem]) -> list[tuple[int, str, list[str]]]:
    """(line number, line, problems at that line) for the annotated view."""
    at: dict[int, list[str]] = {}
    for problem in problems:
        at.setdefault(problem.line or 0, []).append(_said(problem))
    lines = text.split("\n")
    return [(n, line, at.get(n, [])) for n, line in enumerate(lines, start=1)]


def _said(problem: ConfigProblem) -> str:
    text = f"{problem.key}: {problem.message}" if problem.key else problem.message
    return f"{text} (fix: {problem.hint})" if problem.hint else text


def _job(request: Request) -> str:
    job = str(request.path_params["job"])
    if job not in console_state(request).current_config().jobs:
        raise HTTPException(404, f"no job {job!r} in config.yaml")
    return job


async def mapping_list(request: Request) -> Response:
    """GET /mappings: every job's mapping file."""
    who = await require(request, "admin")
    config = console_state(request).current_config()
    files = [(job, config.mapping_path(job)) for job in config.jobs]
    return render(request, "mappings.html", who, files=files)


async def editor(request: Request) -> Response:
    """GET /mappings/{job}: the file as it is on disk."""
    who = await require(request, "admin")
    job = _job(request)
    path = console_state(request).current_config().mapping_path(job)
    text = path.read_text(encoding="utf-8")
    return await _page(
        request, who, job, text, customer="", saved=request.query_params.get("saved")
    )


async def check(request: Request) -> Response:
    """POST /mappings/{job}/check: problems at their lines and, with a customer, the
    preview; the editor's script posts here as the admin types (a fragment comes back)."""
    who, form = await require_change(request, "admin")
    job = _job(request)
    text = _text(form.get("text"))
    customer = str(form.get("customer", "")).strip()
    fragment = request.headers.get("x-fragment") == "1"
    return await _page(request, who, job, text, customer=customer, fragment=fragment)


async def save(request: Request) -> Response:
    """POST /mappings/{job}: save if the edited mapping passes every check."""
    who, form = await require_change(request, "admin")
    state = console_state(request)
    job = _job(request)
    text = _text(form.get("text"))
    config = state.current_config()
    checked, problems = await check_text(config, state.store, job, text)
    if checked is None:
        return await _page(request, who, job, text, customer="", problems=problems, status_code=422)
    path = config.mapping_path(job)
    before = path.read_bytes() if path.exists() else b""
    now = state.clock()
    backup = save_atomically(path, text, now)
    async with write_tx(state.store) as conn:
        await record_change(
            conn,
            who.name,
            "mapping_saved",
            f"mapping:{job}",
            {
                "file": str(path),
                "backup": str(backup) if backup else None,
                "before_sha256": hashlib.sha256(before).hexdigest()[:16],
                "after_sha256": hashlib.sha256(text.encode()).hexdigest()[:16],
            },
            now,
        )
    return await _page(request, who, job, text, customer="", saved=str(backup or "new"))


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    if len(text.encode()) > MAX_MAPPING_BYTES:
        raise HTTPException(413, "a mapping this large is not a mapping")
    return text.replace("\r\n", "\n")  # browsers send a textarea's lines with CRLF


async def _page(  # noqa: PLR0913 - the editor's whole state
    request: Request,
    who: Who,
    job: str,
    text: str,
    *,
    customer: str,
    saved: str | None = None,
    fragment: bool = False,
    problems: list[ConfigProblem] | None = None,
    status_code: int = 200,
) -> Response:
    state = console_state(request)
    config = state.current_config()
    checked = None
    if problems is None:
        checked, problems = await check_text(config, state.store, job, text)
    preview: DryRun | None = None
    if checked is not None and customer:
        mappings, _broken = compile_mappings(config)
        mappings[job] = compiled(config, job, checked)
        preview = await dry_run(state, config, mappings, job, customer)
    diffs = _diffs(preview)
    return render(
        request,
        "mapping_result.html" if fragment else "mapping.html",
        who,
        status_code=status_code,
        job=job,
        path=config.mapping_path(job),
        text=text,
        lines=numbered(text, problems),
        problems=problems,
        customer=customer,
        preview=preview,
        diffs=diffs,
        saved=saved,
    )


def _diffs(preview: DryRun | None) -> list[tuple[str, Any, Any, list[str] | None]]:
    """(field, now, after, line diff for long text) for each field the run would change."""
    if preview is None or preview.change is None:
        return []
    return [
        (name, old, new, text_diff(old, new, context=None))
        for name, old, new in preview.change.changes
    ]
