"""Admin-edited mappings: source field paths -> canonical deal terms -> target field writes.

A mapping file (``mappings/<job>.yaml``) is validated into :class:`MappingSpec`, then compiled
into :class:`Mapping`, whose :meth:`Mapping.apply` is a pure function from a vendor's
``SourceDeal`` to ``DealTerms``. Field errors are collected per record and name the field, the
source path and the value, so one bad deal is reported and the rest of the run goes on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from connectors.base import UNREADABLE, Frozen, SourceDeal, unreadable_reason
from connectors.errors import ConfigError, ConfigProblem
from sync_jobs.config.yamlio import load_yaml, problems_from_validation
from sync_jobs.domain.guardrails import Guardrail
from sync_jobs.domain.model import (
    CANONICAL_DEAL,
    CANONICAL_TERMS,
    AccountIdentity,
    DealTerms,
)
from sync_jobs.domain.values import CONVERTERS, normalize_identity, to_text

FieldType = Literal[
    "text", "decimal", "percent", "money", "date", "datetime", "bool", "enum", "list"
]
MatchKey = Literal["external_id", "email", "domain"]
ConflictPolicy = Literal["source_wins", "target_wins", "manual", "newest_wins"]
TerritoryPolicy = Literal["manual", "priority", "list_all"]

ALLOWED_TERMS = (*CANONICAL_DEAL, *CANONICAL_TERMS)


class TermRule(Frozen):
    """How one canonical field is read from the source."""

    from_: str | None = Field(None, alias="from", description="dotted source field path")
    type: FieldType = "text"
    values: dict[str, str] | None = Field(None, description="enum: source value -> canonical")
    separator: str = ";"
    default: Any = None
    required: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> TermRule:
        if self.from_ is None and self.default is None:
            raise ValueError("give 'from' (a source field) or a 'default'")
        if self.type == "enum" and not self.values:
            raise ValueError("type enum needs 'values' (source value: canonical value)")
        return self


class IdentityRule(Frozen):
    """A source path whose values identify the customer in the service desk."""

    from_: str = Field(alias="from")
    match: MatchKey


class ActiveWhen(Frozen):
    """Which deals count as closed with live terms (others drop out of the note)."""

    field: str = "stage"
    in_: tuple[str, ...] = Field(alias="in")


class WriteRule(Frozen):
    """One target field written from one canonical field."""

    value: str
    map: dict[str, str] | None = Field(None, description="canonical value -> target value")
    on_conflict: ConflictPolicy = "manual"
    on_disagreement: TerritoryPolicy = "manual"
    priority: tuple[str, ...] = ()


class NoteRule(Frozen):
    """Where the one agent note lives on the record, and how each deal is summarised."""

    field: str = "notes"
    mode: Literal["block", "whole"] = "block"
    """block: dealbridge owns a marked block inside a field agents also write in."""
    format: Literal["text", "html"] = "text"
    template: str | None = None


class MappingSpec(Frozen):
    """A whole mapping file."""

    record: str = Field(description="target record kind the deals attach to, e.g. organization")
    select: str | None = None
    active_when: ActiveWhen | None = None
    identity: tuple[IdentityRule, ...] = Field(min_length=1)
    terms: dict[str, TermRule]
    write: dict[str, WriteRule] = Field(default_factory=dict)
    note: NoteRule = Field(default_factory=NoteRule)
    guardrails: dict[str, Guardrail] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_names(self) -> MappingSpec:
        unknown = [k for k in self.terms if k not in ALLOWED_TERMS and not k.startswith("custom.")]
        if unknown:
            raise ValueError(
                f"unknown canonical field(s) {', '.join(unknown)}; use one of "
                f"{', '.join(ALLOWED_TERMS)} or custom.<name>"
            )
        unknown_rails = [k for k in self.guardrails if k not in self.terms]
        if unknown_rails:
            raise ValueError(
                f"guardrails name terms the mapping never sets "
                f"({', '.join(unknown_rails)}); add them under terms"
            )
        bad = [f"{k}: {r.value}" for k, r in self.write.items() if r.value not in self.terms]
        if bad:
            raise ValueError(
                f"write rules read terms the mapping never sets ({'; '.join(bad)}); "
                "add them under terms"
            )
        return self


class FieldProblem(Frozen):
    """One canonical field of one deal that could not be read."""

    field: str
    path: str | None
    value: Any = None
    message: str

    def __str__(self) -> str:
        where = f" (source field {self.path} = {self.value!r})" if self.path else ""
        return f"{self.field}{where}: {self.message}"


class MappingFailed(Exception):
    """A deal could not be mapped; every field problem is listed."""

    def __init__(self, deal_id: str, problems: list[FieldProblem]) -> None:
        self.deal_id = deal_id
        self.problems = problems
        super().__init__(f"deal {deal_id}: " + "; ".join(str(p) for p in problems))


def resolve_path(payload: Any, path: str) -> Any:
    """Follow a dotted path; a list along the way maps over its items (results flattened).

    The answer is a list whenever the path crossed a list (even one holding a single item),
    so a mapping sees the same shape for one contact as for three. An unreadable marker met on
    the way is the answer for its branch (the value behind it cannot be known)."""
    return _walk(payload, _parts(path), path)


def _walk(payload: Any, parts: tuple[str, ...], path: str) -> Any:
    """:func:`resolve_path` with the path already split (a compiled mapping splits once).

    Most paths cross no list: they are walked node by node (a mapping reads about 20 paths a
    deal). A list hands over to the general walk. Only a dict can be an unreadable marker, so
    the marker test is a length check on dicts, not a call per node."""
    node = payload
    for part in parts:
        if not isinstance(node, dict):
            return None
        if len(node) == 1 and isinstance(node.get(UNREADABLE), str):
            return node  # an unreadable marker: the answer for this branch
        node = node.get(part)
        if node is None:
            return None
        if isinstance(node, list):
            # An empty list ends the only branch walked so far: nothing is there.
            return _resolve_across_lists(payload, path) if node else None
    return node


def _resolve_across_lists(payload: Any, path: str) -> Any:
    """:func:`resolve_path` for a path that crosses a list."""
    current: list[Any] = [payload]
    crossed_list = False
    for part in _parts(path):
        nxt: list[Any] = []
        for node in current:
            if unreadable_reason(node) is not None:
                nxt.append(node)
                continue
            value = node.get(part) if isinstance(node, dict) else None
            if isinstance(value, list):
                crossed_list = True
                nxt.extend(v for v in value if v is not None)
            elif value is not None:
                nxt.append(value)
        current = nxt
    if not current:
        return None
    return current if crossed_list or len(current) > 1 else current[0]


@functools.lru_cache(maxsize=1024)
def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


Read = Callable[[dict[str, Any]], Any]
"""One term rule compiled: the payload in, the canonical value out (ValueError if unreadable)."""

_PLAIN = frozenset({str, int, float, bool})
"""Classes of a value that is neither an unreadable marker nor a list, and that is empty only
when it is ``""``: the value most paths end on, converted without the general checks."""


def _compile_rule(rule: TermRule) -> Read:
    """``rule`` as a function of the payload, its path split and its conversion looked up
    once (a mapping reads about 15 terms a deal).

    A path of one or two parts that ends on a plain non-empty value through plain dicts (the
    usual Salesforce field and parent field) is read directly, and so is one that ends on
    nothing (a null or missing field: Salesforce sends every empty field as null) when the
    rule has no default and is not required; anything else (a list, a marker, an empty
    text, a default to convert, a longer path) takes :func:`_read_rule`, the general
    reading, so both answer alike."""
    parts = _parts(rule.from_) if rule.from_ else None
    finish = _finisher(rule)
    general = functools.partial(_read_rule, rule, parts, finish)
    if parts is None or len(parts) > 2 or UNREADABLE in parts:
        return general  # (a part named like the marker key could read a marker's reason)
    # What the general reading answers for nothing there, when that is a constant.
    nothing = _Nothing(
        rule.default is None and not rule.required, () if rule.type == "list" else None
    )
    if len(parts) == 1 and rule.type == "text":
        return _text_field_reader(parts[0], general, nothing)
    if len(parts) == 1:
        return _field_reader(parts[0], finish, general, nothing)
    return _parent_field_reader(parts[0], parts[1], finish, general, nothing)


@dataclass(frozen=True, slots=True)
class _Nothing:
    """What a rule reads from a null or missing value: ``value``, when ``known`` (no default
    to convert, not required); else the general reading decides."""

    known: bool
    value: tuple[()] | None


_NOTHING_THERE = _Nothing(known=True, value=None)
"""A null or missing value read as nothing (``_walk``'s answer for it)."""


def _text_field_reader(key: str, general: Read, nothing: _Nothing) -> Read:
    known, empty = nothing.known, nothing.value

    def read_text_field(payload: dict[str, Any]) -> Any:
        raw = payload.get(key)
        if raw.__class__ is str and raw:
            return raw.strip()  # what ``to_text`` makes of a string
        if raw is None and known and UNREADABLE not in payload:
            return empty  # (a payload that is a marker is the marker's answer)
        return general(payload)

    return read_text_field


def _field_reader(key: str, finish: Callable[[Any], Any], general: Read, nothing: _Nothing) -> Read:
    known, empty = nothing.known, nothing.value

    def read_field(payload: dict[str, Any]) -> Any:
        raw = payload.get(key)
        if raw.__class__ in _PLAIN and raw != "":
            return finish(raw)
        if raw is None and known and UNREADABLE not in payload:
            return empty
        return general(payload)

    return read_field


def _parent_field_reader(
    parent: str, key: str, finish: Callable[[Any], Any], general: Read, nothing: _Nothing
) -> Read:
    known, empty = nothing.known, nothing.value

    def read_parent_field(payload: dict[str, Any]) -> Any:
        node = payload.get(parent)
        if type(node) is dict:  # a marker holds no ``key``: it falls to the general reading
            raw = node.get(key)
            if raw.__class__ in _PLAIN and raw != "":
                return finish(raw)
            if raw is None and known and UNREADABLE not in node:
                return empty  # (``payload``, holding ``parent``, is no marker)
        return general(payload)

    return read_parent_field


_MAYBE_MARKED = (dict, list)
"""What can be (or hold) an unreadable marker (a tuple: ``dict | list`` is built per test)."""


def _compile_identity(rule: IdentityRule) -> Read:
    """``_walk`` of the identity rule's path, as a function of the payload: a path of one or
    two parts through plain dicts (the usual customer number and website) is read by the
    term rules' readers, keeping the value as it is found; anything else (a list, a marker,
    a longer path) is walked. Each deal reads every identity path."""
    path = rule.from_
    parts = _parts(path)
    general = functools.partial(_walk, parts=parts, path=path)
    if len(parts) > 2 or UNREADABLE in parts:
        return general
    if len(parts) == 1:
        return _field_reader(parts[0], _as_found, general, _NOTHING_THERE)
    return _parent_field_reader(parts[0], parts[1], _as_found, general, _NOTHING_THERE)


def _as_found(value: Any) -> Any:
    return value


def _finisher(rule: TermRule) -> Callable[[Any], Any]:
    """The rule's conversion of one non-empty value that is not a list."""
    if rule.type == "list":
        return functools.partial(_split, rule.separator)
    if rule.type == "enum":
        assert rule.values is not None  # TermRule requires an enum's values
        return functools.partial(_translated, rule.values)
    return CONVERTERS[rule.type]


def _read_rule(
    rule: TermRule,
    parts: tuple[str, ...] | None,
    finish: Callable[[Any], Any],
    payload: dict[str, Any],
) -> Any:
    """The general reading of one term rule: any path, lists, markers, empties, defaults."""
    raw = _walk(payload, parts, rule.from_ or "") if parts is not None else None
    if isinstance(raw, dict | list):  # only these can be (or hold) unreadable markers
        _refuse_unreadable(raw)
    if raw is None or raw in ("", []):
        if rule.required and rule.default is None:
            raise ValueError("is required but empty")
        raw = rule.default
        if raw is None:
            return () if rule.type == "list" else None
    if isinstance(raw, list):
        if rule.type == "list":
            return _items(raw)
        raw = raw[0]
    return finish(raw)


def _split(separator: str, raw: Any) -> tuple[str, ...]:
    return _items(str(raw).split(separator))


def _items(items: list[Any]) -> tuple[str, ...]:
    return tuple(t for t in (to_text(i) for i in items) if t)


def _translated(values: dict[str, str], raw: Any) -> str:
    key = to_text(raw)
    if key not in values:
        raise ValueError(
            f"{key!r} is not in the value map; add it under values (known: {', '.join(values)})"
        )
    return values[key]


class Mapping:
    """A compiled mapping for one job: pure, reusable, cheap to apply per deal."""

    def __init__(
        self,
        spec: MappingSpec,
        *,
        job: str,
        source: str,
        system: str,
        territory: str,
        base_dir: Path,
    ) -> None:
        self.spec = spec
        self.job = job
        self.source = source
        self.system = system
        self.territory = territory
        self.base_dir = base_dir
        # What is the same for every deal is worked out here, once per mapping.
        self._readers = tuple(
            (name, rule, _compile_rule(rule)) for name, rule in spec.terms.items()
        )
        self._identities = tuple((rule, _compile_identity(rule)) for rule in spec.identity)
        self._custom = {
            name: name.removeprefix("custom.") for name in spec.terms if name.startswith("custom.")
        }

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as what it was made from (its compiled readers are closures): a worker
        process gets the lead's very mapping, compiled again from the same spec, without
        reading the file again (an admin may have saved it since)."""
        place = {
            "job": self.job,
            "source": self.source,
            "system": self.system,
            "territory": self.territory,
            "base_dir": self.base_dir,
        }
        return (_rebuilt, (self.spec, place))

    def source_paths(self) -> tuple[str, ...]:
        """Every source path the mapping reads (the source fetches at least these)."""
        paths = [r.from_ for r in self.spec.terms.values() if r.from_]
        paths += [r.from_ for r in self.spec.identity]
        return tuple(dict.fromkeys(paths))

    def apply(self, deal: SourceDeal) -> DealTerms:
        """Map one deal; raise MappingFailed listing every field that could not be read."""
        payload = deal.payload
        values: dict[str, Any] = {}
        problems: list[FieldProblem] = []
        for name, rule, read in self._readers:
            try:
                values[name] = read(payload)
            except ValueError as exc:
                raw = resolve_path(payload, rule.from_) if rule.from_ else None
                problems.append(
                    FieldProblem(field=name, path=rule.from_, value=_shown(raw), message=str(exc))
                )
        # Each identity path is resolved once: checked for unreadable values, then used.
        identities = [(rule, walk(payload)) for rule, walk in self._identities]
        problems += _identity_problems(identities)
        if problems:
            raise MappingFailed(deal.id, problems)
        return self._terms(deal, values, identities)

    def _terms(
        self,
        deal: SourceDeal,
        values: dict[str, Any],
        identities: list[tuple[IdentityRule, Any]],
    ) -> DealTerms:
        active = True
        rule = self.spec.active_when
        if rule is not None:
            active = to_text(values.get(rule.field) or "") in rule.in_
        custom_names = self._custom
        custom = {short: values[name] for name, short in custom_names.items()}
        # ``values`` is this deal's own dict: without custom terms it is the known terms.
        known = {k: v for k, v in values.items() if k not in custom_names} if custom else values
        name, phone = known.pop("account_name", None), known.pop("account_phone", None)
        account: AccountIdentity | dict[str, Any] = {
            "name": name,
            "phone": phone,
            **_identity(identities),
        }
        if not (_text_or_none(name) and _text_or_none(phone)):
            # Built on its own, as it always was: its error is not one of the deal's problems.
            account = AccountIdentity.model_validate(account)
        ref = {
            "system": self.system,
            "source": self.source,
            "job": self.job,
            "id": deal.id,
            "territory": self.territory,
            "url": deal.url,
        }
        # ``known`` is this deal's own dict, holding canonical terms only (none of these
        # names): completed in place, it is the dict a copy with them added would be.
        known |= {
            "deal": ref,
            "account": account,
            "active": active,
            "custom": custom,
            "modified_at": deal.modified_at,
        }
        try:
            # One validation builds the terms with their deal and account (one call into
            # pydantic's core, not three): the same values, checks and error locations.
            # The validator itself, as ``model_validate`` calls it with no options (its
            # Python wrapper was a tenth of the validation's cost).
            terms: DealTerms = DealTerms.__pydantic_validator__.validate_python(known)
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
        return terms


def _text_or_none(value: Any) -> bool:
    """Whether an account's name or phone can be validated with the terms: text and None are
    always valid there, and an identity's values are normalised text."""
    return value is None or type(value) is str


def _identity_problems(identities: list[tuple[IdentityRule, Any]]) -> list[FieldProblem]:
    """Identity paths that reach a value the source could not read: matching on the rest
    would be a guess, so the deal fails instead."""
    problems = []
    for index, (rule, raw) in enumerate(identities):
        if not isinstance(raw, _MAYBE_MARKED):
            continue  # only these can be (or hold) unreadable markers
        try:
            _refuse_unreadable(raw)
        except ValueError as exc:
            problems.append(
                FieldProblem(
                    field=f"identity[{index}]",
                    path=rule.from_,
                    value=_shown(raw),
                    message=str(exc),
                )
            )
    return problems


def _identity(identities: list[tuple[IdentityRule, Any]]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {"external_id": [], "email": [], "domain": []}
    for rule, raw in identities:
        if raw is None:
            continue  # (most deals lack one of their identity paths: no contact roles)
        match = rule.match
        values = found[match]
        if raw.__class__ is str:  # one text (most identity paths): as the loop reads it
            if raw != "":
                values.append(normalize_identity(match, raw.strip()))
            continue
        for item in raw if isinstance(raw, list) else (raw,):
            if item is not None and item != "":
                # ``to_text`` of a text is the text stripped
                text = item.strip() if type(item) is str else to_text(item)
                values.append(normalize_identity(match, text))
    return {
        "external_ids": _unique(found["external_id"]),
        "emails": _unique(found["email"]),
        "domains": _unique(found["domain"]),
    }


def _unique(values: list[str]) -> tuple[str, ...]:
    """``values`` without repeats, in order (most hold one value or none: nothing to drop)."""
    return tuple(values) if len(values) < 2 else tuple(dict.fromkeys(values))


def _shown(raw: Any) -> Any:
    """The value as a problem report shows it (a marker's reason is already in the message)."""
    if isinstance(raw, list):
        return [_shown(item) for item in raw]
    return "<unreadable>" if unreadable_reason(raw) is not None else raw


def _refuse_unreadable(raw: Any) -> None:
    """Raise with the source's reason when the value (or an item of it) is unreadable."""
    for item in raw if isinstance(raw, list) else [raw]:
        reason = unreadable_reason(item)
        if reason is not None:
            raise ValueError(f"the source could not read this value: {reason}")


def load_mapping_spec(path: Path) -> MappingSpec:
    """Read and validate one mapping file (every problem at once, with file:line)."""
    return parse_mapping_spec(load_yaml(path), path)


def parse_mapping_spec(doc: Any, path: Path) -> MappingSpec:
    """Validate an already-parsed mapping document (``path`` names it in errors)."""
    if not isinstance(doc, dict):
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    1,
                    "",
                    "expected a mapping document",
                    "see mappings/README.md for the layout",
                )
            ]
        )
    try:
        return MappingSpec.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(
            problems_from_validation(
                exc,
                str(path),
                doc,
                known={
                    "": list(MappingSpec.model_fields),
                },
            )
        ) from None


def _rebuilt(spec: MappingSpec, place: dict[str, Any]) -> Mapping:
    """A pickled :class:`Mapping`, compiled again (``Mapping.__reduce__``)."""
    return Mapping(spec, **place)
