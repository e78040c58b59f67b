"""Guardrails: terms outside policy reach a human before they reach agents' screens.

Configured per canonical term in a mapping's ``guardrails`` section. A deal that breaks any
guardrail raises an ``out_of_policy`` conflict; until someone approves it
(``dealbridge conflicts resolve ID --take source``) its values are not written to fields and
its note line says it is under review.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field

from connectors.base import Frozen
from sync_jobs.domain.model import DealTerms


class Guardrail(Frozen):
    """Limits for one canonical term."""

    max: Decimal | None = Field(None, description="largest allowed number (e.g. discount)")
    min: Decimal | None = None
    allowed: tuple[str, ...] | None = Field(None, description="the only allowed values")
    max_days: int | None = Field(None, ge=0, description="dates at most this far from today")
    required: bool = Field(False, description="the term must be present (e.g. approved_by)")


def violations(terms: DealTerms, rails: dict[str, Guardrail], today: date) -> list[str]:
    """Each guardrail the deal breaks, as a sentence naming the term, value and limit."""
    found = []
    for name, rail in sorted(rails.items()):
        value = terms.value(name)
        if value is None or (type(value) not in _NEVER_EMPTY and value in ("", ())):
            if rail.required:
                found.append(f"{name} is required but missing")
            continue
        found += _check(name, value, rail, today)
    return found


_NEVER_EMPTY = frozenset({Decimal, date, bool, int})
"""Classes none of whose values equals ``""`` or ``()``: a term of one is never missing. Asked
first because a decimal's comparison with a text or a tuple asks the numeric ABCs before it
answers False (most of the guardrails' cost: a deal's discount is checked on every read)."""


def _check(name: str, value: object, rail: Guardrail, today: date) -> list[str]:
    found = []
    if isinstance(value, Decimal):
        if rail.max is not None and value > rail.max:
            found.append(f"{name} {value} is above the maximum {rail.max}")
        if rail.min is not None and value < rail.min:
            found.append(f"{name} {value} is below the minimum {rail.min}")
    if rail.allowed is not None:
        items = value if isinstance(value, tuple) else (value,)
        bad = [str(i) for i in items if str(i) not in rail.allowed]
        if bad:
            found.append(
                f"{name} {', '.join(bad)} is not allowed (allowed: {', '.join(rail.allowed)})"
            )
    if (
        isinstance(value, date)
        and rail.max_days is not None
        and (value - today).days > rail.max_days
    ):
        found.append(f"{name} {value.isoformat()} is more than {rail.max_days} days away")
    return found
