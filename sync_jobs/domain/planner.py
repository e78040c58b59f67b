"""Stage 2's decision, as a pure function: one customer's deals + its record -> a write plan.

Given every deal of every territory attached to one service record, the record's current
values and what we last wrote (the base), the planner decides per field (see
:mod:`sync_jobs.domain.policy`), detects territories that disagree, composes the one agent note, and
returns the changes, the new base values and the conflicts found. No I/O happens here, which is
what makes dry runs, crash replays and the decision-table tests trustworthy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.domain.mapping import NoteRule, WriteRule
from sync_jobs.domain.model import DealTerms
from sync_jobs.domain.note_fit import clean_terms, shorten_terms
from sync_jobs.domain.notes import DealLine, NoteBlockDamaged, StoredAs, render_note
from sync_jobs.domain.policy import absent, decide
from sync_jobs.domain.values import comparable, same_value, to_date, to_target


class DealView(NamedTuple):
    """A stored deal plus the write rules and note template of the job it came from (a
    tuple: one is made per deal planned)."""

    terms: DealTerms
    rules: Mapping[str, WriteRule]
    template: str | None = None
    folder: Path = Path()
    under_review: bool = False
    """Outside policy and not yet approved: shown in the note, not written to fields."""
    stored: StoredAs | None = None
    """Which stored terms ``terms`` are (fingerprint, modification time), when they are a
    stored deal's exactly: the renderer may then reuse the line it rendered for them."""


@dataclass(frozen=True)
class Resolution:
    """A person's decision on a conflict, valid while the values it was made on still hold."""

    conflict_id: int
    kind: str
    take: str
    """``source``, ``target``, ``value`` or ``territory``."""
    value: Any
    pinned: Any
    """What the decision was made on: the deal value (target_edited) or every territory's
    value (territory_disagreement), in comparable form."""


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
    resolutions: Mapping[str, Resolution] = field(default_factory=dict)
    """Decisions on this record's conflicts, by field."""


@dataclass(frozen=True)
class Finding:
    """A conflict the planner found on this record."""

    kind: str
    field: str | None
    summary: str
    details: dict[str, Any]


class Change(NamedTuple):
    """One field to write, with the value it replaces and why (for the audit trail).

    A tuple (immutable, and made in a third of a frozen dataclass's time): a customer's plan
    makes one per field written, the note included."""

    field: str
    old: Any
    new: Any
    reason: str


class Plan(NamedTuple):
    """What stage 2 will do to one record.

    A tuple (immutable; ``_replace`` makes a changed copy): one a customer planned, and its
    twelve fields cost a frozen dataclass about a microsecond to set one by one."""

    ref: RecordRef
    changes: tuple[Change, ...]
    adopt: dict[str, Any]
    """Base values to record without writing (target already agrees)."""
    drop_base: tuple[str, ...]
    """Fields we no longer own (cleared, or taken over by an agent)."""
    findings: tuple[Finding, ...]
    live_deals: int
    error: str | None = None
    applied: tuple[int, ...] = ()
    """Resolutions used by this plan."""
    stale: tuple[int, ...] = ()
    """Resolutions whose values changed since the decision: no longer applied."""
    confirmed: tuple[str, ...] = ()
    """Fields found already holding the wanted value that our base did not record (after a
    crash between a write and its commit, or an agent typing the same value): audited."""
    problems: tuple[str, ...] = ()
    """Record-level errors that did not stop the rest of the plan (a value missing from a
    write rule's map, agents' text leaving no room for the note): reported in the run."""
    version: str | None = None
    """The record's version as read for this plan (``CustomerRecord.version``): the write
    carries it, so a desk that can tell refuses a record an agent changed since."""

    @property
    def fields(self) -> dict[str, Any]:
        """The changes as the target connector takes them."""
        return {c.field: c.new for c in self.changes}


LineRenderer = Callable[[DealView], str]
UNDER_REVIEW = " [outside policy: under review]"


class _Work:
    """Mutable scratch of one planning pass (slots and a plain ``__init__``: one is made per
    customer planned, and a dataclass's eight default factories cost as much again)."""

    __slots__ = (
        "adopt",
        "applied",
        "changes",
        "confirmed",
        "drops",
        "findings",
        "problems",
        "stale",
        "state",
    )

    def __init__(self, state: CustomerState) -> None:
        self.state = state
        self.changes: list[Change] = []
        self.adopt: dict[str, Any] = {}
        self.drops: list[str] = []
        self.findings: list[Finding] = []
        self.applied: list[int] = []
        self.stale: list[int] = []
        self.confirmed: list[str] = []
        self.problems: list[str] = []

    def resolution(self, name: str, kind: str, current: Any) -> Resolution | None:
        """The decision on this field's conflict, if it still applies to ``current``."""
        res = self.state.resolutions.get(name)
        if res is None or res.kind != kind:
            return None
        if res.pinned != current:
            self.stale.append(res.conflict_id)
            return None
        self.applied.append(res.conflict_id)
        return res

    def plan(self, live: int, error: str | None = None) -> Plan:
        return Plan(
            self.state.record.ref,
            tuple(self.changes),
            self.adopt,
            tuple(self.drops),
            tuple(self.findings),
            live,
            error,
            tuple(self.applied),
            tuple(self.stale),
            tuple(self.confirmed),
            tuple(self.problems),
            self.state.record.version,
        )


def plan_customer(state: CustomerState, render_line: LineRenderer) -> Plan:
    """Decide every synced field and the note for one record."""
    live = _in_order([d for d in state.deals if d.terms.is_live(state.today)], _by_deal)
    scratch = _Work(state)
    wanted, held = _desired(live, scratch)
    for name in sorted(set(wanted) | set(state.base)):
        if name in held or name == state.note.field:
            continue
        _field(name, wanted, scratch)
    _expired_elsewhere(live, scratch)
    alerts = [f.summary for f in scratch.findings]
    try:
        note = _note(live, alerts, state, render_line, scratch)
    except NoteBlockDamaged as exc:
        return scratch.plan(len(live), error=str(exc))
    current_note = state.record.fields.get(state.note.field)
    if note != (current_note or ""):
        scratch.changes.append(Change(state.note.field, current_note, note, "deal note"))
    return scratch.plan(len(live))


def _by_deal(view: DealView) -> tuple[str, str]:
    return view.terms.deal.territory, view.terms.deal.id


def _in_order(views: Sequence[DealView], key: Callable[[DealView], Any]) -> list[DealView]:
    """``views`` sorted by ``key``; most customers have one deal, and one needs no key."""
    return sorted(views, key=key) if len(views) > 1 else list(views)


Candidates = dict[str, tuple[Any, DealView]]
"""One field's wanted values by who wants them: a territory, or ``<territory> deal <id>`` for
each deal of a territory whose own deals disagree."""


def _desired(
    live: Sequence[DealView], work: _Work
) -> tuple[dict[str, tuple[Any, DealView]], set[str]]:
    held: set[str] = set()
    wanted: dict[str, tuple[Any, DealView]] = {}
    if len(live) == 1:  # most customers: one deal's values as they are, nothing to choose
        for view in live:
            _deal_values(view, work, held, wanted.__setitem__)
        return wanted, held
    per_field: dict[str, list[tuple[Any, DealView]]] = defaultdict(list)
    for view in live:
        _deal_values(view, work, held, lambda name, found: per_field[name].append(found))
    for name, found in per_field.items():
        if name in held:
            continue
        if len(found) == 1:  # one deal of several sets this field: nothing to choose
            wanted[name] = found[0]
            continue
        if len({comparable(v) for v, _ in found}) == 1:
            wanted[name] = max(found, key=lambda item: _newest(item[1]))
            continue
        chosen = _disagreement(name, _candidates(found), work)
        if chosen is None:
            held.add(name)
        else:
            wanted[name] = chosen
    return wanted, held


def _deal_values(
    view: DealView,
    work: _Work,
    held: set[str],
    want: Callable[[str, tuple[Any, DealView]], object],
) -> None:
    """Hand ``want`` each field the deal sets, with the value its write rule makes of it; a
    value the rule's map does not list holds the field (a problem of the record)."""
    if view.under_review:
        return
    for target_field, rule in view.rules.items():
        value = view.terms.value(rule.value)
        # (A Decimal, the common value, is never an empty tuple; its == asks numbers' ABCs.)
        if value is None or (type(value) is not Decimal and value == ()):
            continue
        value = to_target(value)
        if rule.map is not None:
            if str(value) not in rule.map:
                work.problems.append(_unmapped(target_field, rule, value, view))
                held.add(target_field)
                continue
            value = rule.map[str(value)]
        want(target_field, (value, view))


def _newest(view: DealView) -> tuple[Any, ...]:
    return (view.terms.modified_at, view.terms.deal.territory, view.terms.deal.id)


def _unmapped(name: str, rule: WriteRule, value: Any, view: DealView) -> str:
    deal = view.terms.deal
    known = ", ".join(repr(k) for k in rule.map or {})
    return (
        f"{name}: {deal.territory} deal {deal.id} has {rule.value} {str(value)!r}, which the "
        f"write rule's map does not list, so the field is not written; add it under "
        f"write: {name}: map: in the {deal.job} mapping (known: {known})"
    )


def _candidates(found: Sequence[tuple[Any, DealView]]) -> Candidates:
    """A territory whose deals agree speaks once (its newest deal); one whose deals differ
    speaks per deal, so two deals of one territory disagree like two territories."""
    by_territory: dict[str, list[tuple[Any, DealView]]] = defaultdict(list)
    for item in found:
        by_territory[item[1].terms.deal.territory].append(item)
    candidates: Candidates = {}
    for territory, items in by_territory.items():
        if len({comparable(v) for v, _ in items}) == 1:
            candidates[territory] = max(items, key=lambda item: _newest(item[1]))
            continue
        for value, view in items:
            candidates[f"{territory} deal {view.terms.deal.id}"] = (value, view)
    return candidates


def _disagreement(name: str, candidates: Candidates, work: _Work) -> tuple[Any, DealView] | None:
    rules = [view.rules[name] for _, view in candidates.values()]
    policies = {r.on_disagreement for r in rules}
    order = next((r.priority for r in rules if r.priority), ())
    values = {label: v for label, (v, _) in sorted(candidates.items())}
    if "manual" not in policies and "priority" in policies and order:
        territories = {view.terms.deal.territory for _, view in candidates.values()}
        first = next((t for t in order if t in territories), None)
        if first is not None and first in candidates:  # else its own deals differ
            return candidates[first]
    if policies == {"list_all"}:
        return None
    res = work.resolution(
        name, "territory_disagreement", {t: comparable(v) for t, v in values.items()}
    )
    if res is not None:
        any_view = next(iter(candidates.values()))[1]
        if res.take == "value":
            return res.value, any_view
        if res.take == "territory" and res.value in candidates:
            return candidates[res.value]
        return None  # "target": leave the record's value, quietly
    text = " vs ".join(f"{v} ({label})" for label, v in values.items())
    views = [view for _, view in candidates.values()]
    who = "territories" if set(values) <= {v.terms.deal.territory for v in views} else "deals"
    work.findings.append(
        Finding(
            "territory_disagreement",
            name,
            f"{who} differ on {name}: {text}; held for review",
            {
                "values": values,
                "deals": sorted(v.terms.deal.id for v in views),
                "owners": sorted({v.terms.owner_email for v in views} - {None}),
            },
        )
    )
    return None


def _field(name: str, wanted: dict[str, tuple[Any, DealView]], work: _Work) -> None:
    state = work.state
    current = state.record.fields.get(name)
    source, view = wanted.get(name, (None, None))
    if view is None:
        if name in state.base:
            _release(name, current, state.base[name], work)
        return
    if current is None and name not in state.base and name not in state.resolutions:
        # A first write (every field of a backfill): with no base and nothing on the record,
        # the decision table (policy.decide) comes down to writing the deal's value, or
        # recording agreement when that value is empty too; no conflict either way.
        if comparable(source) is None:
            _adopt(name, None, work)
        else:
            work.changes.append(Change(name, None, source, "deal terms"))
        return
    base = state.base[name] if name in state.base else absent()
    policy = view.rules[name].on_conflict
    # A decision on this field is rare: only then is the deal's value put in comparable form.
    res = (
        work.resolution(name, "target_edited", comparable(source))
        if name in state.resolutions
        else None
    )
    if res is not None:
        if res.take != "target":  # a person chose the deal's value, or a value of their own
            _decided(name, current, res.value if res.take == "value" else source, work)
        return
    decision = decide(
        base=base,
        target=current,
        source=source,
        policy=policy,
        source_time=view.terms.modified_at,
        target_time=state.record.updated_at,
    )
    if decision.conflict:
        work.findings.append(_edited(name, current, source, view, decision, policy, state))
    if decision.action == "write":
        work.changes.append(Change(name, current, decision.value, "deal terms"))
    elif decision.adopt_base:
        _adopt(name, decision.value, work)


def _decided(name: str, current: Any, value: Any, work: _Work) -> None:
    """A person's decision for ``value`` is written (whichever side changed), or adopted as
    the base when the record already holds it."""
    if same_value(current, value):
        _adopt(name, current, work)
    else:
        work.changes.append(Change(name, current, value, "resolution"))


def _adopt(name: str, value: Any, work: _Work) -> None:
    """The record holds what we want: record it as the base (audited when it was not)."""
    work.adopt[name] = value
    base = work.state.base
    if name not in base or not same_value(base[name], value):
        work.confirmed.append(name)


def _release(name: str, current: Any, base: Any, work: _Work) -> None:
    """No live deal sets this field any more: clear it if it still holds what we wrote."""
    if comparable(current) is None or comparable(current) != comparable(base):
        work.drops.append(name)
    else:
        work.changes.append(Change(name, current, None, "no live deal sets this field"))


def _edited(
    name: str,
    current: Any,
    source: Any,
    view: DealView,
    decision: Any,
    policy: str,
    state: CustomerState,
) -> Finding:
    terms = view.terms
    return Finding(
        "target_edited",
        name,
        f"{name}: record has {current!r}, {terms.deal.territory} deal wants {source!r} "
        f"({decision.conflict}); {_outcome(decision.action)}",
        {
            "base": state.base.get(name),
            "target": current,
            "desired": source,
            "deals": [terms.deal.id],
            "policy": policy,
            "owners": [terms.owner_email] if terms.owner_email else [],
        },
    )


def _expired_elsewhere(live: Sequence[DealView], work: _Work) -> None:
    """Expiry dates in the past on fields we do not own: someone typed terms by hand."""
    rules = {
        n: r
        for d in work.state.deals
        for n, r in d.rules.items()
        if r.value in ("valid_until", "valid_from")
    }
    for name in sorted(rules):
        current = work.state.record.fields.get(name)
        if name in work.state.base or current in (None, ""):
            continue
        try:
            expired = to_date(current) < work.state.today
        except ValueError:
            continue
        if not expired or any(name in d.rules for d in live if not d.under_review):
            continue
        if work.resolution(name, "expired_terms_present", comparable(current)) is None:
            work.findings.append(
                Finding(
                    "expired_terms_present",
                    name,
                    f"{name} shows {current} (expired) and was not written by dealbridge; "
                    "check whether old terms are still shown",
                    {"target": current},
                )
            )


def _outcome(action: str) -> str:
    return {
        "write": "deal value written",
        "keep": "record value kept",
        "hold": "held for review",
    }.get(action, action)


def _note(
    live: Sequence[DealView],
    alerts: Sequence[str],
    state: CustomerState,
    render_line: LineRenderer,
    work: _Work,
) -> str:
    current = state.record.fields.get(state.note.field)
    if len(live) == 1:  # most customers
        updated: datetime | None = live[0].terms.modified_at
    else:
        updated = max((d.terms.modified_at for d in live), default=None)
    rendered = render_note(
        current if isinstance(current, str) else None,
        [_deal_line(view, render_line) for view in _in_order(live, listing_order)],
        alerts,
        updated.date().isoformat() if updated else "-",
        state.text_limit,
        fmt=state.note.format,
        mode=state.note.mode,
    )
    if rendered.problem is not None:
        work.problems.append(f"{state.note.field}: {rendered.problem}")
    return rendered.text


def listing_order(view: DealView) -> tuple[Any, ...]:
    """The note lists deals soonest expiry first (open-ended last), then largest discount."""
    terms = view.terms
    discount = terms.discount_percent
    return (
        terms.valid_until or date.max,
        discount is None,
        -(discount or Decimal(0)),
        terms.deal.territory,
        terms.deal.id,
    )


def _deal_line(view: DealView, render_line: LineRenderer) -> DealLine:
    return DealLine(view.terms.deal.id, _Rendering(view, render_line))


class _Rendering:
    """One deal's line at a given value cap; the deal's values are cleaned once, however
    many caps the fitting tries (slots: one is made per deal of every note)."""

    __slots__ = ("cleaned", "render_line", "view")

    def __init__(self, view: DealView, render_line: LineRenderer) -> None:
        self.view = view
        self.render_line = render_line
        self.cleaned: DealTerms | None = None

    def __call__(self, cap: int | None) -> str:
        suffix = UNDER_REVIEW if self.view.under_review else ""
        if cap is None:  # the common case: the template cleans each value it prints
            return self.render_line(self.view) + suffix
        if self.cleaned is None:
            self.cleaned = clean_terms(self.view.terms)
        terms = shorten_terms(self.cleaned, cap)
        # Shortened terms are no longer the stored ones: never a reused line.
        return self.render_line(self.view._replace(terms=terms, stored=None)) + suffix
