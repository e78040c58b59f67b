"""Templates (Jinja2 with autoescape on for every file) and the small filters pages share."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from sync_jobs.app.web.guard import Who
from sync_jobs.app.web.state import console_state

TEMPLATES = Path(__file__).parent / "templates"


def _ago(moment: datetime | None, now: datetime | None = None) -> str:
    """'3 min ago' style, for a glance (the exact time is in the title attribute)."""
    if moment is None:
        return "never"
    seconds = int(((now or datetime.now(moment.tzinfo)) - moment).total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if abs(seconds) >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    value = int(value)
    if value >= 3600:
        return f"{value // 3600} h {value % 3600 // 60} min"
    return f"{value // 60} min {value % 60} s" if value >= 60 else f"{value} s"


def _utc(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _environment() -> Environment:
    # autoescape=True for every template, whatever its name: deal text is vendor data.
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined
    )
    env.filters |= {"ago": _ago, "seconds": _seconds, "utc": _utc}
    return env


templates = Jinja2Templates(env=_environment())


def render(
    request: Request, name: str, who: Who | None, status_code: int = 200, **context: Any
) -> Response:
    """A page, with what the layout needs: the person, their CSRF token, the config."""
    state = console_state(request)
    return templates.TemplateResponse(
        request,
        name,
        {
            "who": who,
            "csrf": who.session.csrf if who else "",
            "jobs": state.config.jobs,
            "now": state.clock(),
            **context,
        },
        status_code=status_code,
    )
