"""Service Cloud answers sorted into dealbridge's errors: whole calls and single records.

Whole calls share the Salesforce classifier (:mod:`connectors.salesforce_common.errors`): a
top-level JSON array ``[{"message", "errorCode", "fields"?}]`` (FACTS.md 7.3), 401
``INVALID_SESSION_ID`` (1.4), 403 ``REQUEST_LIMIT_EXCEEDED`` (7.2): the spent 24-hour allocation
is a ``BudgetExhausted``, the concurrent limit a wait. A collection call that is not well formed
(an unknown field: FACTS.md 5.1 and its gap) is a 400 for all its records, and the writer
handles that one itself.

Single records fail inside a 200 answer, as a SaveResult whose errors carry ``statusCode``
(not ``errorCode``, FACTS.md 5.2). What each code means for the record (FACTS.md 5.4; which
exact code Salesforce gives each case is partly unverified there, so every code of a kind is
treated alike):

* gone (``ENTITY_IS_DELETED``, ``INVALID_CROSS_REFERENCE_KEY``, ``MALFORMED_ID``,
  ``INVALID_ID_FIELD``): the record was deleted or merged between lookup and write; it fails,
  and its deals are matched again after the next index refresh;
* retry (``UNABLE_TO_LOCK_ROW``, ``ALL_OR_NONE_OPERATION_ROLLED_BACK``): sent again once in the
  same call, then reported;
* anything else: refused, named with its field and the value sent, and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connectors.redact import redact

Verdict = Literal["gone", "retry", "refused"]

GONE = frozenset(
    {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID", "INVALID_ID_FIELD"}
)
"""The record is not there any more (deleted, merged, or an id of nothing)."""
RETRY = frozenset({"UNABLE_TO_LOCK_ROW", "ALL_OR_NONE_OPERATION_ROLLED_BACK"})
"""Nothing is wrong with the record: another transaction held it, or a rollback took it along."""
HINTS: dict[str, str] = {
    "STRING_TOO_LONG": "the text is over the field's limit (text areas count UTF-8 bytes)",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": "add the value to the picklist in Setup, or "
    "map the canonical value to an existing one with 'map:'",
    "INVALID_FIELD_FOR_INSERT_UPDATE": "give the integration user edit access to the field "
    "(field-level security) or stop writing it",
    "INSUFFICIENT_ACCESS_OR_READONLY": "give the integration user edit access to this record",
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": "give the integration user access to the "
    "record it refers to",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "a validation rule in the org refused the values",
    "REQUIRED_FIELD_MISSING": "the field is required on this record",
    "FIELD_INTEGRITY_EXCEPTION": "the value does not fit the field",
    "DUPLICATE_VALUE": "another record already holds this unique value",
    "INVALID_FIELD": "the field does not exist (or is hidden from the integration user)",
}
"""What a person can do about a refusal; a code not listed is reported in Salesforce's words."""


@dataclass(frozen=True)
class SaveError:
    """The first error of a failed SaveResult."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    @property
    def verdict(self) -> Verdict:
        """What it means for the record."""
        if self.code in GONE:
            return "gone"
        if self.code in RETRY:
            return "retry"
        return "refused"


def save_error(result: Any) -> SaveError | None:
    """The error of one SaveResult, or None when it succeeded.

    ``success`` decides; an item that is not an object, or a failure without errors, is still
    a failure (``UNKNOWN_EXCEPTION``), never taken for a success."""
    if isinstance(result, dict) and result.get("success") is True:
        return None
    errors = result.get("errors") if isinstance(result, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = first.get("statusCode") or first.get("errorCode") or "UNKNOWN_EXCEPTION"
    raw_fields = first.get("fields")
    fields = tuple(str(f) for f in raw_fields) if isinstance(raw_fields, list) else ()
    message = " ".join(str(first.get("message") or "no message").split())
    return SaveError(code=str(code), message=redact(message), fields=fields)


def describe_refusal(kind: str, record_id: str, error: SaveError, sent: Mapping[str, Any]) -> str:
    """One line naming the record, the field and value sent, Salesforce's words and the fix."""
    if error.verdict == "gone":
        return (
            f"{kind} {record_id} no longer exists in Salesforce ({error.code}: deleted or merged "
            "since it was looked up); its deals are matched again after the next index refresh"
        )
    named = [f for f in error.fields if f in sent] or [
        name for name in sent if any(name.lower() == f.lower() for f in error.fields)
    ]
    detail = "; ".join(f"sent {name} = {_short(sent[name])}" for name in named)
    hint = HINTS.get(error.code)
    text = f"Salesforce refused {kind} {record_id}: {error.message} ({error.code})"
    if detail:
        text += f"; {detail}"
    return f"{text}; {hint}" if hint else text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(str(value))} characters)"
