"""The per-field decision table: base (what we last wrote) vs target (now) vs source (wanted).

Pure functions only, so the table is tested row by row. Rows are checked top to bottom and the
first match wins (see docs in mappings/README.md, "When an agent edits a synced field"):

=============================  ==================================================  ==========
condition                      action                                              conflict?
=============================  ==================================================  ==========
T == S                         nothing to write; base := T                         no
no base, T empty               write S                                             no
no base, T set, T != S         pre-existing value: policy decides                  target_edited
T == B                         only the source changed: write S                    no
S == B, policy ``manual``      only the agent changed it: hold T for a person      target_edited
S == B, other policies         only the agent changed it: keep T                   no
T, S, B all differ             both changed: policy decides                        target_edited
=============================  ==================================================  ==========

An agent's edit of a field whose deal did not change is held for a person under ``manual``
(the default, "a person decides"): the desk no longer shows the deal's terms, and whoever
owns them should know now (issue 19), not at the deal's next change. The automatic policies
keep the agent's value quietly, as before: they say in advance what happens when both change.

Policies for a conflicting field: ``source_wins`` writes S; ``target_wins`` keeps T (the base
stays what we wrote, so the record is never flipped back on a later run); ``manual`` holds
the field (keeps T, no write) until someone resolves it;
``newest_wins`` writes S when the deal changed after the record, else keeps T, and falls back
to ``manual`` when either time is unknown (clock skew must not make it flip-flop).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NamedTuple

from sync_jobs.domain.values import comparable

Action = Literal["none", "write", "hold", "keep"]
_ABSENT = object()
AGENT_EDIT = "agent changed the field since dealbridge wrote it"


class FieldDecision(NamedTuple):
    """What to do with one field of one record.

    A tuple (immutable, as a frozen dataclass was, and made in a third of the time): one is
    decided for every synced field of every customer planned."""

    action: Action
    value: Any = None
    """The value to write (``write``) or the value now agreed as base (``none``/``keep``)."""
    conflict: str | None = None
    """Why this is a conflict (None when it is not one)."""
    adopt_base: bool = False
    """Record ``value`` as the new base without writing."""


def decide(
    *,
    base: Any = _ABSENT,
    target: Any,
    source: Any,
    policy: str,
    source_time: datetime | None = None,
    target_time: datetime | None = None,
) -> FieldDecision:
    """Apply the decision table to one field.

    Each value is put in comparable form once (the table compares the target twice and the
    base twice): this runs for every synced field of every customer planned."""
    now = comparable(target)
    wanted = comparable(source)
    if now == wanted:
        return FieldDecision("none", target, adopt_base=True)
    if base is _ABSENT:
        if now is None:
            return FieldDecision("write", source)
        return _settle(
            policy, target, source, "pre-existing value on the record", source_time, target_time
        )
    last = comparable(base)
    if now == last:
        return FieldDecision("write", source)
    if wanted == last:  # only the agent changed it: a person decides under manual
        held = policy == "manual"
        return FieldDecision("hold" if held else "keep", target, AGENT_EDIT if held else None)
    return _settle(policy, target, source, AGENT_EDIT, source_time, target_time)


def _settle(
    policy: str,
    target: Any,
    source: Any,
    why: str,
    source_time: datetime | None,
    target_time: datetime | None,
) -> FieldDecision:
    if policy == "source_wins":
        return FieldDecision("write", source, conflict=why)
    if policy == "target_wins":
        return FieldDecision("keep", target, conflict=why)
    if policy == "newest_wins" and source_time is not None and target_time is not None:
        if source_time > target_time:
            return FieldDecision("write", source, conflict=why)
        return FieldDecision("keep", target, conflict=why)
    return FieldDecision("hold", target, conflict=why)


def absent() -> Any:
    """The marker for "no base recorded yet"."""
    return _ABSENT
