"""Stage 2's decision, as a pure function: one customer's deals + its record -> a write plan.

Given every deal of every territory attached to one service record, the record's current
values and what we last wrote (the base), the planner decides per field (see
:mod:`sync_jobs.policy`), detects territories that disagree, composes the one agent note, and
returns the changes, the new base values and the conflicts found. No I/O happens here, which is
what makes dry runs, crash replays and the decision-table tests trustworthy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.mapping import NoteRule, WriteRule
from sync_jobs.model import DealTerms
from sync_jobs.notes import NoteBlockDamaged, compose, splice
from sync_jobs.policy import absent, decide
from sync_jobs.values import comparable, to_target


@dataclass(frozen=True)
class DealView:
    """A stored deal plus the write rules and note template of the job it came from."""

    terms: DealTerms
    rules: Mapping[str, WriteRule]
    template: str | None = None
    folder: Path = Path()


@dataclass(frozen=True)
class CustomerState:
    """Everything the planner needs about one service record."""

    target: str
    record: CustomerRecord
    deals: Sequence[DealView]
    base: Mapping[str, Any]
    note: NoteRule
    text_limit: int
    today: date
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """Values chosen by a person resolving a conflict; written as if the source wanted them."""


@dataclass(frozen=True)
class Finding:
    """A conflict the planner found on this record."""

    kind: str
    field: str | None
    summary: str
    details: dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One field to write, with the value it replaces and why (for the audit trail)."""

    field: str
    old: Any
    new: Any
    reason: str


@dataclass(frozen=True)
class Plan:
    """What stage 2 will do to one record."""

    ref: RecordRef
    changes: tuple[Change, ...]
    adopt: dict[str, Any]
    """Base values to record without writing (target already agrees)."""
    drop_base: tuple[str, ...]
    """Fields we no longer own (cleared, or taken over by an agent)."""
    findings: tuple[Finding, ...]
    live_deals: int
    error: str | None = None

    @property
    def fields(self) -> dict[str, Any]:
        """The changes as the target connector takes them."""
        return {c.field: c.new for c in self.changes}


LineRenderer = Callable[[DealView], str]


def plan_customer(state: CustomerState, render_line: LineRenderer) -> Plan:
    """Decide every synced field and the note for one record."""
    live = sorted(
        (d for d in state.deals if d.terms.is_live(state.today)),
        key=lambda d: (d.terms.deal.territory, d.terms.deal.id),
    )
    wanted, findings, held = _desired(live)
    changes: list[Change] = []
    adopt: dict[str, Any] = {}
    drops: list[str] = []
    for name in sorted(set(wanted) | set(state.base)):
        if name in held or name == state.note.field:
            continue
        _field(name, wanted, state, changes, adopt, drops, findings)
    alerts = [f.summary for f in findings]
    try:
        note = _note(live, alerts, state, render_line)
    except NoteBlockDamaged as exc:
        return Plan(
            state.record.ref,
            tuple(changes),
            adopt,
            tuple(drops),
            tuple(findings),
            len(live),
            error=str(exc),
        )
    current_note = state.record.fields.get(state.note.field)
    if note != (current_note or ""):
        changes.append(Change(state.note.field, current_note, note, "deal note"))
    return Plan(state.record.ref, tuple(changes), adopt, tuple(drops), tuple(findings), len(live))


def _desired(
    live: Sequence[DealView],
) -> tuple[dict[str, tuple[Any, DealView]], list[Finding], set[str]]:
    per_field: dict[str, dict[str, tuple[Any, DealView]]] = defaultdict(dict)
    for view in sorted(live, key=lambda d: d.terms.modified_at):  # newest per territory wins
        for target_field, rule in view.rules.items():
            value = view.terms.value(rule.value)
            if value is None or value == ():
                continue
            value = to_target(value)
            if rule.map is not None:
                value = rule.map.get(str(value), value)
            per_field[target_field][view.terms.deal.territory] = (value, view)
    wanted: dict[str, tuple[Any, DealView]] = {}
    findings: list[Finding] = []
    held: set[str] = set()
    for name, by_territory in per_field.items():
        distinct = {comparable(v) for v, _ in by_territory.values()}
        if len(distinct) == 1:
            wanted[name] = next(iter(by_territory.values()))
            continue
        chosen = _disagreement(name, by_territory, findings)
        if chosen is None:
            held.add(name)
        else:
            wanted[name] = chosen
    return wanted, findings, held


def _disagreement(
    name: str, by_territory: dict[str, tuple[Any, DealView]], findings: list[Finding]
) -> tuple[Any, DealView] | None:
    rules = [view.rules[name] for _, view in by_territory.values()]
    policies = {r.on_disagreement for r in rules}
    order = next((r.priority for r in rules if r.priority), ())
    values = {t: v for t, (v, _) in sorted(by_territory.items())}
    text = " vs ".join(f"{v} ({t})" for t, v in values.items())
    details = {
        "values": values,
        "deals": sorted(view.terms.deal.id for _, view in by_territory.values()),
        "owners": sorted(
            {view.terms.owner_email or "" for _, view in by_territory.values()} - {""}
        ),
    }
    if "manual" not in policies and "priority" in policies and order:
        winner = next((t for t in order if t in by_territory), None)
        if winner is not None:
            return by_territory[winner]
    if policies == {"list_all"}:
        return None
    findings.append(
        Finding(
            "territory_disagreement",
            name,
            f"territories differ on {name}: {text}; held for review",
            details,
        )
    )
    return None


def _field(
    name: str,
    wanted: dict[str, tuple[Any, DealView]],
    state: CustomerState,
    changes: list[Change],
    adopt: dict[str, Any],
    drops: list[str],
    findings: list[Finding],
) -> None:
    current = state.record.fields.get(name)
    source, view = wanted.get(name, (None, None))
    if name in state.overrides:
        source, policy = state.overrides[name], "source_wins"
    else:
        policy = view.rules[name].on_conflict if view else "target_wins"
    base = state.base[name] if name in state.base else absent()
    if view is None and name in state.base:
        # No live deal sets this field any more: clear it if it still holds what we wrote.
        if comparable(current) is None or comparable(current) != comparable(base):
            drops.append(name)
        else:
            changes.append(Change(name, current, None, "no live deal sets this field"))
        return
    decision = decide(
        base=base,
        target=current,
        source=source,
        policy=policy,
        source_time=view.terms.modified_at if view else None,
        target_time=state.record.updated_at,
    )
    if decision.conflict and view is not None:
        findings.append(
            Finding(
                "target_edited",
                name,
                f"{name}: record has {current!r}, {view.terms.deal.territory} deal wants "
                f"{source!r} ({decision.conflict}); {_outcome(decision.action)}",
                {
                    "base": state.base.get(name),
                    "target": current,
                    "desired": source,
                    "deals": [view.terms.deal.id],
                    "policy": policy,
                    "owners": [view.terms.owner_email] if view.terms.owner_email else [],
                },
            )
        )
    if decision.action == "write":
        changes.append(
            Change(
                name,
                current,
                decision.value,
                "override" if name in state.overrides else "deal terms",
            )
        )
    elif decision.adopt_base:
        adopt[name] = decision.value


def _outcome(action: str) -> str:
    return {
        "write": "deal value written",
        "keep": "record value kept",
        "hold": "held for review",
    }.get(action, action)


def _note(
    live: Sequence[DealView], alerts: Sequence[str], state: CustomerState, render_line: LineRenderer
) -> str:
    current = state.record.fields.get(state.note.field)
    if not live and not alerts:
        block = None
    else:
        updated = max((d.terms.modified_at for d in live), default=None)
        stamp = updated.date().isoformat() if updated else "-"
        lines = [render_line(d) for d in live]
        outside = len(current or "") if state.note.mode == "block" else 0
        block = compose(
            lines, alerts, stamp, max(200, state.text_limit - outside - 2), state.note.format
        )
    if state.note.mode == "whole":
        return block or ""
    return splice(current if isinstance(current, str) else None, block)
