"""What Zendesk and Freshdesk said when they refused a ticket or a note, in their own words.

Zendesk answers ``{"error": "RecordInvalid", "description": "Record validation errors",
"details": {field: [{"description"}]}}``, or ``{"error": "Couldn't authenticate you"}``, or
``{"error": {"title", "message"}}``; Freshdesk answers ``{"description": "Validation failed",
"errors": [{"field", "message", "code"}]}`` or ``{"code", "message"}``. Every known part is
kept (the field named), the rest is cut and redacted.
"""

from __future__ import annotations

import httpx

from connectors.redact import redact
from sync_jobs.alerts import render
from sync_jobs.alerts.posting import body_text


def vendor_message(response: httpx.Response) -> str:
    """The desk's own words: Zendesk ``error``/``description``/``details``, Freshdesk ``errors``."""
    try:
        data = response.json()
    except ValueError:
        return repr(body_text(response)) if response.content else "nothing"
    if not isinstance(data, dict):
        return repr(body_text(response))
    parts = [_zendesk_error(data.get("error")), _text(data.get("description"))]
    parts += [_text(data.get("message"))]
    parts += _zendesk_details(data.get("details")) + _freshdesk_errors(data.get("errors"))
    said = "; ".join(part for part in parts if part)
    return redact(render.truncate(said, 400)) if said else repr(body_text(response))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _zendesk_error(error: object) -> str:
    if isinstance(error, dict):  # {"error": {"title": "Forbidden", "message": "..."}}
        return ": ".join(_text(error.get(k)) for k in ("title", "message") if error.get(k))
    return _text(error)


def _zendesk_details(details: object) -> list[str]:
    if not isinstance(details, dict):
        return []
    return [
        f"{field}: {_text(problem.get('description'))}"
        for field, problems in details.items()
        for problem in (problems if isinstance(problems, list) else [])
        if isinstance(problem, dict)
    ]


def _freshdesk_errors(errors: object) -> list[str]:
    if not isinstance(errors, list):
        return []
    return [
        f"{_text(e.get('field')) or 'request'}: {_text(e.get('message'))} ({_text(e.get('code'))})"
        for e in errors
        if isinstance(e, dict)
    ]
