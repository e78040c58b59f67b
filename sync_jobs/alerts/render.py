"""What every channel says about an alert, written once: headline, facts, plain text and HTML.

Channels differ only in markup. The content rule is shared: what happened, to which customer
and deal, the values involved, and exactly what to do (plus the link when there is one). No
payload dumps: only the alert's own fields are rendered, and long values are cut with an
ellipsis so one oversized value never pushes the action out of a message or over a vendor's
size limit (Slack header 150 characters, Teams 28 KB per message).
"""

from __future__ import annotations

import html
from urllib.parse import urlsplit

from sync_jobs.alerts.base import Alert

PHASE_PREFIX = {"opened": "", "updated": "Update: ", "closed": "Resolved: "}
"""Incoming webhooks and mail cannot edit what was sent, so a follow-up says what it is."""

TITLE_LIMIT = 150
SUMMARY_LIMIT = 1500
LABEL_LIMIT = 60
VALUE_LIMIT = 300
ACTION_LIMIT = 500
MAX_FACTS = 20


def truncate(text: str, limit: int) -> str:
    """``text`` stripped and cut to at most ``limit`` characters, ending in "…" when cut."""
    clean = text.strip()
    if len(clean) <= limit:
        return clean
    return clean[: max(0, limit - 1)].rstrip() + "…"


def one_line(text: str, limit: int) -> str:
    """``text`` with every run of whitespace (newlines too) folded to one space, then cut."""
    return truncate(" ".join(text.split()), limit)


def base_title(alert: Alert) -> str:
    """The title without a phase prefix (content.py may already have added one)."""
    title = " ".join(alert.title.split())
    for prefix in PHASE_PREFIX.values():
        if prefix and title.startswith(prefix):
            return title.removeprefix(prefix)
    return title


def headline(alert: Alert) -> str:
    """One line: the phase prefix (once) and the title, e.g. "Resolved: Agent edit held: Acme"."""
    return one_line(PHASE_PREFIX[alert.phase] + base_title(alert), TITLE_LIMIT)


def summary(alert: Alert) -> str:
    """The summary, cut to a size every channel accepts."""
    return truncate(alert.summary, SUMMARY_LIMIT)


def action(alert: Alert) -> str:
    """What to do, on one line (it is often a command to paste)."""
    return one_line(alert.action, ACTION_LIMIT)


def facts(alert: Alert) -> tuple[tuple[str, str], ...]:
    """Who and what first (customer, deal, territory, job), then the alert's own values."""
    context = (
        ("Customer", alert.customer),
        ("Deal", alert.deal),
        ("Territory", alert.territory),
        ("Job", alert.job),
    )
    named = [(label, value) for label, value in context if value]
    pairs = [*named, *alert.facts][:MAX_FACTS]
    return tuple(
        (one_line(label, LABEL_LIMIT), truncate(value, VALUE_LIMIT)) for label, value in pairs
    )


def safe_link(alert: Alert) -> str | None:
    """The alert's link when it is an http(s) URL; anything else (``javascript:``...) is dropped."""
    if not alert.link:
        return None
    parts = urlsplit(alert.link.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return alert.link.strip()


def footer(alert: Alert) -> str:
    """Where the alert came from and its dedupe key, for searching logs and the outbox."""
    return f"dealbridge · {alert.kind} · {alert.severity} · key {alert.key}"


def plain_text(alert: Alert) -> str:
    """The whole alert as plain text: email text part, ticket comments, chat fallbacks."""
    lines = [headline(alert), "", summary(alert), ""]
    lines += [f"{label}: {value}" for label, value in facts(alert)]
    lines += ["", f"What to do: {action(alert)}"]
    link = safe_link(alert)
    if link:
        lines.append(f"Details: {link}")
    lines += ["", footer(alert)]
    return "\n".join(lines)


def html_body(alert: Alert) -> str:
    """The whole alert as a small HTML fragment; every value is escaped (no markup injection)."""

    def esc(text: str) -> str:
        return html.escape(text, quote=True)

    rows = "".join(
        f"<tr><th align='left' style='padding-right:12px'>{esc(label)}</th>"
        f"<td>{esc(value)}</td></tr>"
        for label, value in facts(alert)
    )
    parts = [
        f"<h3>{esc(headline(alert))}</h3>",
        f"<p>{esc(summary(alert))}</p>",
        f"<table>{rows}</table>" if rows else "",
        f"<p><b>What to do:</b> <code>{esc(action(alert))}</code></p>",
    ]
    link = safe_link(alert)
    if link:
        parts.append(f"<p><a href='{esc(link)}'>Open in dealbridge</a></p>")
    parts.append(f"<p style='color:#666;font-size:small'>{esc(footer(alert))}</p>")
    return "".join(part for part in parts if part)
