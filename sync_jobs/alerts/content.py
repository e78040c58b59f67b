"""Turning conflicts and run failures into alerts a person can act on.

Each alert says what happened, to which customer and deal, the values involved, and exactly
what to do (the CLI command, and a link when ``alerts.base_url`` is set). No payload dumps, no
secrets: only the facts the conflict recorded.
"""

from __future__ import annotations

from typing import Any

from sync_jobs.alerts.base import Alert, Phase, Severity
from sync_jobs.domain.decisions import TAKES

TITLES = {
    "target_edited": "Agent edit held",
    "territory_disagreement": "Territories disagree",
    "out_of_policy": "Deal terms outside policy",
    "unmatched": "Deal matches no customer",
    "ambiguous": "Deal matches several customers",
    "expired_terms_present": "Expired terms still shown",
}
SEVERITY: dict[str, Severity] = {
    "target_edited": "warning",
    "territory_disagreement": "warning",
    "out_of_policy": "warning",
    "unmatched": "info",
    "ambiguous": "warning",
    "expired_terms_present": "info",
    "run_failed": "critical",
    "auth_expired": "critical",
    "rate_limited": "warning",
    "budget_exhausted": "warning",
    "connector_unhealthy": "critical",
    "config_invalid": "critical",
}
PHASE_WORD = {"opened": "", "updated": "Update: ", "closed": "Resolved: "}


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "-" if value is None else str(value)


def conflict_alert(row: Any, phase: Phase, base_url: str | None = None) -> Alert:
    """The alert for one conflict row (its identity + version make the dedupe key)."""
    details: dict[str, Any] = dict(row.details or {})
    who = details.get("customer") or details.get("account") or row.customer_key or "customer"
    what = row.field or details.get("deal_name") or details.get("deal") or ""
    title = f"{PHASE_WORD[phase]}{TITLES.get(row.kind, row.kind)}: {who}"
    if what:
        title += f" / {what}"
    facts = [
        (label, _fmt(details[key]))
        for key, label in (
            ("base", "last written by dealbridge"),
            ("target", "value on the record"),
            ("desired", "value the deal wants"),
            ("values", "values by territory"),
            ("violations", "policy"),
            ("candidates", "candidate records"),
            ("territory", "territory"),
            ("owners", "deal owners"),
            ("owner", "deal owner"),
        )
        if key in details and details[key] not in (None, [], {})
    ]
    takes = "|".join(
        t if t in ("source", "target") else f"{t}=..." for t in TAKES.get(row.kind, ())
    )
    action = (
        f"review: dealbridge conflicts show {row.id}; decide: dealbridge conflicts resolve "
        f"{row.id} --take {takes}"
        if phase != "closed"
        else "nothing: the conflict is closed"
    )
    return Alert(
        key=f"conflict:{row.id}:v{row.version}:{phase}",
        kind=row.kind,
        severity=SEVERITY.get(row.kind, "warning"),
        title=title,
        summary=details.get("summary") or _summary(row.kind, details),
        action=action,
        phase=phase,
        customer=str(who),
        deal=_fmt(details.get("deal") or details.get("deals")),
        territory=details.get("territory"),
        job=details.get("job"),
        facts=tuple(facts),
        link=f"{base_url.rstrip('/')}/conflicts/{row.id}" if base_url else None,
        extra={
            "thread": f"conflict:{row.id}",
            "owner": details.get("owner") or next(iter(details.get("owners") or []), None),
        },
    )


def _summary(kind: str, details: dict[str, Any]) -> str:
    deal = details.get("deal_name") or details.get("deal")
    if kind == "unmatched":
        return (
            f"Deal {deal} names {details.get('account')}, but no service record has its "
            "customer number, contact email or domain. Its terms are not shown to agents."
        )
    if kind == "ambiguous":
        return (
            f"Deal {deal} matches several service records; nothing was written to a guess. "
            "Link it to the right one."
        )
    if kind == "out_of_policy":
        return (
            f"Deal {deal} breaks policy ({_fmt(details.get('violations'))}); its terms are "
            "shown as under review and not written until approved."
        )
    return f"{kind} on {deal or 'a customer record'}"


def failure_alert(
    kind: str,
    job: str,
    message: str,
    bucket: str,
    phase: Phase = "opened",
    *,
    run_id: str | None = None,
) -> Alert:
    """A run or connector failure, keyed per time bucket so it repeats at a capped interval
    (``run_id``: the run it is about, which the console's link opens)."""
    title = {
        "run_failed": "Sync job failing",
        "auth_expired": "Credentials refused",
        "rate_limited": "Rate limited for long",
        "budget_exhausted": "Vendor's daily API budget spent",
        "connector_unhealthy": "Connector unhealthy",
        "config_invalid": "Config edit refused",
    }.get(kind, kind)
    return Alert(
        key=f"{kind}:{job}:{bucket}:{phase}",
        kind=kind,
        severity=SEVERITY.get(kind, "critical"),
        title=f"{PHASE_WORD[phase]}{title}: {job}",
        summary=message[:600],
        action=_failure_action(kind, job, phase),
        phase=phase,
        job=job,
        extra={"thread": f"{kind}:{job}"} | ({"run_id": run_id} if run_id else {}),
    )


def _failure_action(kind: str, name: str, phase: Phase) -> str:
    if phase == "closed":
        return "nothing: it is healthy again"
    if kind in ("connector_unhealthy", "auth_expired"):
        return f"check the credentials and URL of {name} in config.yaml, then dealbridge validate"
    if kind == "config_invalid":
        return "fix the file and line named above; dealbridge validate shows every problem"
    if kind == "budget_exhausted":
        return (
            f"nothing now: jobs using {name} resume on their own at the time above; if it "
            "recurs, run them less often or raise the vendor's API allocation"
        )
    return f"dealbridge status; then dealbridge run {name}"
