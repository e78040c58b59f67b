"""The configuration as the console runs it, with every secret hidden.

A value is shown only if it is not a secret (pydantic ``SecretStr``, or a key named like one:
``password``, ``token``...) and, after ``scrub``, holds nothing shaped like a credential; a
database URL loses its password. What is left says how dealbridge is wired, not how to get in.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr
from starlette.requests import Request
from starlette.responses import Response

from connectors.redact import is_secret_key, scrub
from sync_jobs.app.web.guard import require
from sync_jobs.app.web.render import render
from sync_jobs.app.web.state import console_state

HIDDEN = "••• (secret, not shown)"


def shown(key: str, value: Any) -> str:
    """One setting as the page may show it."""
    if isinstance(value, SecretStr) or is_secret_key(key):
        return HIDDEN
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return scrub(str(value))


def without_password(url: str) -> str:
    """A store URL with its password replaced (``postgresql://user:***@host/db``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def settings(request: Request) -> Response:
    """GET /settings."""
    who = await require(request)
    config = console_state(request).current_config()
    connectors = {
        name: [(key, shown(key, value)) for key, value in connector]
        for name, connector in config.connectors.items()
    }
    return render(
        request,
        "settings.html",
        who,
        store=without_password(config.state.url),
        connectors=connectors,
        job_rows=[(name, job, config.mapping_path(name)) for name, job in config.jobs.items()],
        channels=sorted(config.alerts.channels),
        web=config.web,
    )
