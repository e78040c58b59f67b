"""Stage 2's ``_gather`` (one customer's share of C3) against the version it replaced, kept
here as the reference: the same audit rows, note states, bases, drops, settled customers and
conflicts, in the same order, for any plan the planner can make (one change per field; the
note among them or not; adopted, confirmed and dropped bases; findings) and any write result
(values stored differently from what was sent, cleared fields, a field missing)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connectors.base import RecordRef, WriteResult
from sync_jobs.domain.planner import Change, Finding, Plan
from sync_jobs.run import stage2
from sync_jobs.run.stage2 import _gather
from sync_jobs.store import batch_state
from sync_jobs.store.audit import AuditEntry
from sync_jobs.store.conflicts import ConflictRecord

NOTE = "notes"
HOSTILE = st.text(st.characters(exclude_categories=()), max_size=12) | st.sampled_from(
    ["", "\x00", "\u202e\u2066evil", "\ud800", "é" * 300]
)
VALUES = st.none() | HOSTILE | st.integers() | st.booleans() | st.decimals() | st.dates()
FIELDS = (
    st.sampled_from(
        [NOTE, "details", "organization_fields.special_discount", "organization_fields.terms", "x"]
    )
    | HOSTILE
)


def reference_gather(
    ctx: Any,
    key: str,
    plan: Plan,
    result: WriteResult | None,
    names: dict[str, str],
    commit: batch_state.Commit,
    found: list[ConflictRecord],
) -> None:
    """``_gather`` as it was before it was made one pass (the oracle)."""
    stored = result.fields if result is not None else {}
    note_field = ctx.note.field
    written: dict[str, Any] = {}
    for change in plan.changes:
        name = change.field
        commit.audit.append(AuditEntry(key, name, change.old, change.new, change.reason))
        if name == note_field:
            commit.notes.append((key, str(change.new), plan.live_deals))
        else:
            written[name] = stored.get(name, change.new)
    kept = {f: v for f, v in written.items() if v is not None} | plan.adopt
    commit.bases += [(key, f, v) for f, v in kept.items()]
    commit.drops += [(key, f) for f in plan.drop_base]
    commit.drops += [(key, f) for f, v in written.items() if v is None]
    for name in plan.confirmed:
        reason = "already on the record; recorded as base"
        commit.audit.append(AuditEntry(key, name, None, plan.adopt[name], reason))
    found += [
        ConflictRecord(
            kind=f.kind,
            target=ctx.target_name,
            customer_key=key,
            field=f.field,
            details=f.details | {"summary": f.summary, "customer": names.get(key)},
            scope="",
        )
        for f in plan.findings
    ]
    commit.settled.append(key)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Plan, WriteResult | None, dict[str, str]]:
    fields = draw(st.lists(FIELDS, unique=True, max_size=6))
    changes = tuple(
        Change(f, draw(VALUES), draw(VALUES), draw(st.sampled_from(["deal terms", "resolution"])))
        for f in fields
    )
    adopt = draw(st.dictionaries(FIELDS, VALUES, max_size=3))
    confirmed = tuple(draw(st.lists(st.sampled_from(sorted(adopt)), unique=True))) if adopt else ()
    findings = tuple(
        Finding(kind, field, summary, {"values": draw(VALUES)})
        for kind, field, summary in draw(
            st.lists(st.tuples(st.sampled_from(stage2.PLAN_KINDS), FIELDS | st.none(), HOSTILE))
        )
    )
    ref = RecordRef(kind="organization", id=draw(st.sampled_from(["1", "361898904440"])))
    plan = Plan(
        ref=ref,
        changes=changes,
        adopt=adopt,
        drop_base=tuple(draw(st.lists(FIELDS, max_size=3))),
        findings=findings,
        live_deals=draw(st.integers(0, 5)),
        confirmed=confirmed,
    )
    result = None
    if draw(st.booleans()):
        sent = [f for f in fields if draw(st.booleans())]  # some fields missing from it
        stored = {f: draw(VALUES) for f in sent}
        result = WriteResult(ref=ref, ok=True, fields=stored)
    names = draw(st.dictionaries(st.just(ref.key), HOSTILE, max_size=1))
    return plan, result, names


def _ctx() -> Any:
    return SimpleNamespace(note=SimpleNamespace(field=NOTE), target_name="zendesk")


@given(cases(), st.lists(st.just(None), max_size=2))
def test_gather_records_what_the_reference_records(
    case: tuple[Plan, WriteResult | None, dict[str, str]], earlier: list[None]
) -> None:
    plan, result, names = case
    key = plan.ref.key
    commits = []
    for gather in (reference_gather, _gather):
        commit = batch_state.Commit([], kinds=stage2.PLAN_KINDS)
        found: list[ConflictRecord] = []
        for _ in earlier:  # customers gathered before this one: appended to, never replaced
            gather(_ctx(), "organization:0", plan, result, names, commit, found)
        gather(_ctx(), key, plan, result, names, commit, found)
        commits.append((commit, found))
    (want, want_found), (got, got_found) = commits
    assert got.audit == want.audit
    assert all(type(entry) is AuditEntry for entry in got.audit)
    assert got.notes == want.notes
    assert got.bases == want.bases
    assert [type(v) for _, _, v in got.bases] == [type(v) for _, _, v in want.bases]
    assert got.drops == want.drops
    assert got.settled == want.settled
    assert got_found == want_found


def test_gather_examples() -> None:
    """A note, a value stored as the desk printed it, a cleared field, an adopted base."""
    ref = RecordRef(kind="organization", id="7")
    plan = Plan(
        ref=ref,
        changes=(
            Change(NOTE, None, "terms", "deal note"),
            Change("organization_fields.until", None, date(2027, 1, 1), "deal terms"),
            Change("organization_fields.discount", Decimal(5), None, "no live deal sets this"),
        ),
        adopt={"organization_fields.terms": "net30"},
        drop_base=("details",),
        findings=(),
        live_deals=2,
        confirmed=("organization_fields.terms",),
    )
    result = WriteResult(ref=ref, ok=True, fields={"organization_fields.until": "2027-01-01"})
    commit = batch_state.Commit([], kinds=stage2.PLAN_KINDS)
    _gather(_ctx(), ref.key, plan, result, {}, commit, [])
    assert commit.notes == [(ref.key, "terms", 2)]
    assert commit.bases == [
        (ref.key, "organization_fields.until", "2027-01-01"),
        (ref.key, "organization_fields.terms", "net30"),
    ]
    assert commit.drops == [(ref.key, "details"), (ref.key, "organization_fields.discount")]
    assert [e.field for e in commit.audit] == [
        NOTE,
        "organization_fields.until",
        "organization_fields.discount",
        "organization_fields.terms",
    ]
