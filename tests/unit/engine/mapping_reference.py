"""The mapping's per-deal reading as it was before it was compiled per rule: the reference the
compiled :meth:`Mapping.apply` must answer exactly like (``test_mapping_compiled.py``).

Kept deliberately plain: every path goes through the general walk over lists, every rule
through one reading function. Not used by the engine."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from connectors.base import SourceDeal, unreadable_reason
from sync_jobs.domain.mapping import (
    FieldProblem,
    IdentityRule,
    Mapping,
    MappingFailed,
    TermRule,
    _resolve_across_lists,
)
from sync_jobs.domain.model import AccountIdentity, DealRef, DealTerms
from sync_jobs.domain.values import CONVERTERS, normalize_identity, to_text


def reference_apply(mapping: Mapping, deal: SourceDeal) -> DealTerms:
    """Map one deal the way the uncompiled mapping did."""
    spec = mapping.spec
    payload = deal.payload
    values: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, rule in spec.terms.items():
        try:
            values[name] = reference_read(rule, payload)
        except ValueError as exc:
            raw = _resolve_across_lists(payload, rule.from_) if rule.from_ else None
            problems.append(
                FieldProblem(field=name, path=rule.from_, value=_shown(raw), message=str(exc))
            )
    identities = [(i, _resolve_across_lists(payload, i.from_)) for i in spec.identity]
    for index, (identity, raw) in enumerate(identities):
        try:
            _refuse_unreadable(raw)
        except ValueError as exc:
            problems.append(
                FieldProblem(
                    field=f"identity[{index}]",
                    path=identity.from_,
                    value=_shown(raw),
                    message=str(exc),
                )
            )
    if problems:
        raise MappingFailed(deal.id, problems)
    return _terms(mapping, deal, values, identities)


def reference_read(rule: TermRule, payload: dict[str, Any]) -> Any:
    """One rule's value as the plain reading gives it (ValueError when it cannot)."""
    raw = _resolve_across_lists(payload, rule.from_) if rule.from_ else None
    if isinstance(raw, dict | list):
        _refuse_unreadable(raw)
    if raw is None or raw in ("", []):
        if rule.required and rule.default is None:
            raise ValueError("is required but empty")
        raw = rule.default
        if raw is None:
            return () if rule.type == "list" else None
    if rule.type not in ("enum", "list"):
        return CONVERTERS[rule.type](raw[0] if isinstance(raw, list) else raw)
    if rule.type == "list":
        items = raw if isinstance(raw, list) else str(raw).split(rule.separator)
        return tuple(t for t in (to_text(i) for i in items) if t)
    if isinstance(raw, list):
        raw = raw[0]
    assert rule.values is not None
    key = to_text(raw)
    if key not in rule.values:
        raise ValueError(
            f"{key!r} is not in the value map; add it under values "
            f"(known: {', '.join(rule.values)})"
        )
    return rule.values[key]


def _terms(
    mapping: Mapping,
    deal: SourceDeal,
    values: dict[str, Any],
    identities: list[tuple[IdentityRule, Any]],
) -> DealTerms:
    custom_names = {n: n.removeprefix("custom.") for n in values if n.startswith("custom.")}
    custom = {short: values[name] for name, short in custom_names.items()}
    known = {k: v for k, v in values.items() if k not in custom_names}
    found: dict[str, list[str]] = {"external_id": [], "email": [], "domain": []}
    for identity, raw in identities:
        for item in raw if isinstance(raw, list) else [raw]:
            if item not in (None, ""):
                found[identity.match].append(normalize_identity(identity.match, to_text(item)))
    account = AccountIdentity(
        name=known.pop("account_name", None),
        phone=known.pop("account_phone", None),
        external_ids=tuple(dict.fromkeys(found["external_id"])),
        emails=tuple(dict.fromkeys(found["email"])),
        domains=tuple(dict.fromkeys(found["domain"])),
    )
    active = True
    rule = mapping.spec.active_when
    if rule is not None:
        active = to_text(values.get(rule.field) or "") in rule.in_
    ref = DealRef(
        system=mapping.system,
        source=mapping.source,
        job=mapping.job,
        id=deal.id,
        territory=mapping.territory,
        url=deal.url,
    )
    try:
        return DealTerms(
            deal=ref,
            account=account,
            active=active,
            custom=custom,
            modified_at=deal.modified_at,
            **known,
        )
    except ValidationError as exc:
        problems = [
            FieldProblem(
                field=".".join(str(p) for p in e["loc"]),
                path=None,
                value=e.get("input"),
                message=e["msg"],
            )
            for e in exc.errors()
        ]
        raise MappingFailed(deal.id, problems) from None


def _shown(raw: Any) -> Any:
    if isinstance(raw, list):
        return [_shown(item) for item in raw]
    return "<unreadable>" if unreadable_reason(raw) is not None else raw


def _refuse_unreadable(raw: Any) -> None:
    for item in raw if isinstance(raw, list) else [raw]:
        reason = unreadable_reason(item)
        if reason is not None:
            raise ValueError(f"the source could not read this value: {reason}")
