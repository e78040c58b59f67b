"""``dealbridge conflicts resolve``: record a person's decision, applied by the next run.

A decision is pinned to the values it was made on. If the conflict changed after the person
looked (its version moved on, or it is no longer open), the decision is refused with the
reason; if the values change later, the decision stops applying and the conflict reopens.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sync_jobs.alerts.outbox import notify
from sync_jobs.alerts.routing import AlertsConfig
from sync_jobs.domain.decisions import TAKES
from sync_jobs.domain.values import comparable
from sync_jobs.store import audit, conflicts, deals, identity, work
from sync_jobs.store.audit import AuditEntry
from sync_jobs.store.db import Connection, Store, write_tx


class ResolveRefused(ValueError):
    """The decision cannot be recorded; the message says why and what to do."""


def parse_take(text: str) -> tuple[str, str | None]:
    """``source`` / ``target`` / ``value=15`` / ``territory=EMEA`` -> (take, value)."""
    take, _, value = text.partition("=")
    if take not in ("source", "target", "value", "territory"):
        raise ResolveRefused(f"--take {text!r}: use source, target, value=..., or territory=NAME")
    if take in ("value", "territory") and not value:
        raise ResolveRefused(f"--take {take}=... needs a value after '='")
    return take, value or None


async def resolve(
    engine: Store,
    conflict_id: int,
    take_text: str,
    *,
    by: str,
    now: datetime,
    expect_version: int | None = None,
    alerts: AlertsConfig | None = None,
) -> str:
    """Record the decision; return a sentence saying what the next run will do."""
    take, value = parse_take(take_text)
    async with write_tx(engine) as conn:
        row = await conflicts.conflict(conn, conflict_id)
        _check(row, conflict_id, take, expect_version)
        assert row is not None
        pinned = _pin(row, take, value)
        decision = {
            "take": take,
            "value": _typed(value),
            "pinned": pinned,
            "by": by,
            "at": now.isoformat(),
            "version": row.version,
        }
        await conflicts.record_decision(conn, conflict_id, decision, now)
        key = await _apply_now(conn, row, value, now)
        if alerts is not None:  # the closing message, where the channel threads it
            await notify(conn, alerts, now, closed=[conflict_id])
        if key:
            await work.enqueue(conn, row.target, [key], now)
        await audit.record(
            conn,
            row.target,
            None,
            f"person:{by}",
            [
                AuditEntry(
                    key or row.customer_key or "-",
                    row.field or row.kind,
                    None,
                    decision,
                    f"conflict {conflict_id} ({row.kind}) resolved: take {take_text}",
                )
            ],
            now,
        )
    return describe_outcome(row.kind, take, value)


def foresee(row: Any, take_text: str) -> str:
    """What recording ``take_text`` on this conflict row would do, or ResolveRefused saying
    why it cannot be recorded (the console shows this before the person confirms)."""
    take, value = parse_take(take_text)
    _check(row, int(row.id), take, None)
    _pin(row, take, value)
    return describe_outcome(row.kind, take, value)


def _check(row: Any, conflict_id: int, take: str, expect_version: int | None) -> None:
    if row is None:
        raise ResolveRefused(f"no conflict {conflict_id}; see: dealbridge conflicts list --open")
    if row.status != "open":
        raise ResolveRefused(
            f"conflict {conflict_id} is {row.status}, not open: it no longer needs a decision "
            "(superseded means the disagreement went away by itself)"
        )
    if expect_version is not None and expect_version != row.version:
        raise ResolveRefused(
            f"conflict {conflict_id} changed since you looked (version {expect_version} -> "
            f"{row.version}); run `dealbridge conflicts show {conflict_id}` and decide again"
        )
    if take not in TAKES.get(row.kind, ()):
        raise ResolveRefused(f"a {row.kind} conflict takes: {', '.join(TAKES.get(row.kind, ()))}")


def _pin(row: Any, take: str, value: str | None) -> Any:
    details = row.details or {}
    if row.kind == "target_edited":
        return comparable(details.get("desired"))
    if row.kind == "territory_disagreement":
        values = details.get("values", {})
        if take == "territory" and value not in values:
            raise ResolveRefused(
                f"territory {value!r} is not part of this conflict; "
                f"choose one of: {', '.join(values)}"
            )
        return {k: comparable(v) for k, v in values.items()}
    if row.kind == "out_of_policy":
        return details.get("fingerprint")
    if row.kind == "expired_terms_present":
        return comparable(details.get("target"))
    return value


def _typed(value: str | None) -> Any:
    """``value=15`` means the number 15; anything that is not a number stays text."""
    if value is None:
        return None
    text = comparable(value)
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if text is not None and "." not in text else number


async def _apply_now(conn: Connection, row: Any, value: str | None, now: datetime) -> str | None:
    """Manual links take effect in the local store at once; everything else next run."""
    if row.kind not in ("unmatched", "ambiguous"):
        return str(row.customer_key) if row.customer_key else None
    assert value is not None
    kind, _, record_id = value.partition(":")
    if not record_id or not await identity.is_indexed(conn, row.target, kind, record_id):
        raise ResolveRefused(
            f"no {row.target} record {value!r} in the identity index; give "
            "kind:id, e.g. organization:361 (see the candidates)"
        )
    job, _, deal_id = row.identity.rsplit("|", 1)[1].partition("/")
    await deals.link_by_hand(conn, job, deal_id, kind, record_id, now)
    return value


def describe_outcome(kind: str, take: str, value: str | None) -> str:
    """What the next run will do once this decision is recorded (the console shows it first)."""
    if kind in ("unmatched", "ambiguous"):
        return f"deal linked to {value}; the next run writes its terms there"
    what = {
        "source": "the deal's value",
        "target": "the record's current value",
        "value": f"the value {value!r}",
        "territory": f"{value}'s value",
    }[take]
    if kind == "out_of_policy":
        what = (
            "approved: the terms will be written"
            if take == "source"
            else "rejected: the deal stays off the record"
        )
        return f"{what} on the next run (until the deal changes)"
    return f"the next run keeps {what} (until the deal's terms change again)"
