"""Writes to the simulated org: sObject Collections update and upsert, single-record create.

``PATCH /composite/sobjects`` [FACTS.md 5.1-5.4]:

* at most 200 records (more: 400 ``EXCEEDED_ID_LIMIT``), each with ``attributes.type``; records
  of several types are processed in chunks of consecutive same-type records, at most 10;
* a request that is not well formed answers 400 for the whole call, nothing written: no
  ``attributes.type``, an unknown object, a field the object does not have (FACTS.md gap:
  modelled as the whole call, like a single-record write), a JSON value of the wrong type;
* otherwise 200 with one SaveResult per record, in request order: ``{"id", "success": true,
  "errors": []}``, or ``{"success": false, "errors": [{"statusCode", "message", "fields"}]}``
  (no ``id``); each record succeeds or fails on its own unless ``allOrNone`` is true, which
  rolls every record back (``ALL_OR_NONE_OPERATION_ROLLED_BACK`` for those without an error);
* per-record codes: ``MALFORMED_ID`` (not an id of this object), ``INVALID_CROSS_REFERENCE_KEY``
  (no such record), ``ENTITY_IS_DELETED`` (in the recycle bin), ``INVALID_FIELD_FOR_INSERT_UPDATE``
  (not updateable), ``REQUIRED_FIELD_MISSING``, ``STRING_TOO_LONG`` (text over ``length``: in
  characters for one-line text, in UTF-8 **bytes** for text areas, FACTS.md 3.2),
  ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`` (only restricted picklists check their values;
  an unrestricted one takes anything, FACTS.md 3.3), ``UNABLE_TO_LOCK_ROW`` (a row a test
  locked), ``FIELD_CUSTOM_VALIDATION_EXCEPTION`` (a validation rule a test added). Which exact
  code Salesforce gives each case is a FACTS.md gap (5.4); these are the listed ones.

``PATCH /composite/sobjects/{SObject}/{ExternalIdField}`` upserts (FACTS.md 5.5): one type, the
same 200 cap, results in order with ``created``. ``POST /sobjects/{SObject}`` creates one record
(201 ``{"id", "success": true, "errors": []}``, FACTS.md 5.7) or answers 400 with the error array.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from connectors.service.servicecloud.simulator.schema import NUMBERS, FieldSpec, SObjectSpec
from connectors.service.servicecloud.simulator.store import OrgStore, Record

COLLECTION_MAX = 200
CHUNKS_MAX = 10


class WholeCallError(Exception):
    """The request is refused as a whole (HTTP 400 with Salesforce's error array)."""

    def __init__(self, code: str, message: str, fields: tuple[str, ...] = ()) -> None:
        self.code = code
        self.message = message
        self.fields = fields
        super().__init__(f"{code}: {message}")

    def body(self) -> list[dict[str, Any]]:
        """Salesforce's top-level error array (``errorCode``, not ``statusCode``)."""
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields:
            item["fields"] = list(self.fields)
        return [item]


@dataclass(frozen=True)
class RecordFailure:
    """One record's refusal (a SaveResult error: ``statusCode``, not ``errorCode``)."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    def error(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields)}


ValidationRule = Callable[[Record], RecordFailure | None]


@dataclass
class WritePolicy:
    """What a test set up to happen on writes: locked rows and validation rules."""

    locked: dict[str, int] = field(default_factory=dict)
    """Record id -> how many more writes answer ``UNABLE_TO_LOCK_ROW``."""
    rules: dict[str, list[ValidationRule]] = field(default_factory=dict)
    """Object name (lower case) -> rules checked against the record as it would be saved."""


@dataclass(frozen=True)
class Planned:
    """One record of a collection, checked: its object, id and values (Python forms)."""

    spec: SObjectSpec
    record_id: str | None
    values: Record


def plan_collection(store: OrgStore, body: Any, *, one_type: str | None = None) -> list[Planned]:
    """Check the shape of a collection request; refuse the whole call where Salesforce would."""
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise WholeCallError("JSON_PARSER_ERROR", "the request body needs a records array")
    records = body["records"]
    if len(records) > COLLECTION_MAX:
        raise WholeCallError(
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {COLLECTION_MAX} records into this "
            "call",
        )
    planned = [_plan_record(store, raw, one_type) for raw in records]
    chunks = sum(
        1 for i, p in enumerate(planned) if i == 0 or planned[i - 1].spec.name != p.spec.name
    )
    if chunks > CHUNKS_MAX:
        raise WholeCallError(
            "INVALID_BATCH_REQUEST",
            f"the records form {chunks} chunks of one type; a request may hold {CHUNKS_MAX}",
        )
    return planned


def _plan_record(store: OrgStore, raw: Any, one_type: str | None) -> Planned:
    if not isinstance(raw, dict):
        raise WholeCallError("JSON_PARSER_ERROR", "each record must be a JSON object")
    attributes = raw.get("attributes")
    sobject = attributes.get("type") if isinstance(attributes, dict) else None
    if not isinstance(sobject, str) or not sobject:
        raise WholeCallError("INVALID_TYPE", "Each record must have an attributes map with a type")
    spec = store.schema.get(sobject)
    if spec is None or (one_type is not None and spec.name.lower() != one_type.lower()):
        raise WholeCallError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
    values: Record = {}
    record_id: str | None = None
    for key, value in raw.items():
        if key == "attributes":
            continue
        if key.lower() == "id":
            record_id = value if isinstance(value, str) else None
            continue
        column = spec.get(key)
        if column is None:
            raise WholeCallError(
                "INVALID_FIELD",
                f"No such column '{key}' on sobject of type {spec.name}",
                (key,),
            )
        values[column.name] = _deserialize(column, value)
    return Planned(spec, record_id, values)


def _deserialize(column: FieldSpec, value: Any) -> Any:
    """A JSON value as the field stores it; the wrong JSON type is a JSON_PARSER_ERROR."""
    if value is None:
        return None
    kind = column.type
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind in NUMBERS and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    elif kind == "datetime" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    elif (
        kind not in NUMBERS
        and kind not in ("boolean", "date", "datetime")
        and isinstance(value, str)
    ):
        return value
    raise WholeCallError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {type(value).__name__} value {value!r} "
        f"for field {column.name}",
    )


def check_values(spec: SObjectSpec, values: Record, *, creating: bool) -> RecordFailure | None:
    """The first per-record problem with ``values`` (None: they may be saved)."""
    for name, value in values.items():
        column = spec.get(name)
        assert column is not None  # plan_collection refused unknown fields
        allowed = column.can_create if creating else column.updateable
        if not allowed:
            return RecordFailure(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {column.name}. Please check the security "
                "settings of this field and verify that it is read/write for your profile or "
                "permission set.",
                (column.name,),
            )
        failure = _value_failure(column, value)
        if failure is not None:
            return failure
    return None


def _value_failure(column: FieldSpec, value: Any) -> RecordFailure | None:
    if value is None:
        if not column.nillable:
            return RecordFailure(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{column.name}]",
                (column.name,),
            )
        return None
    if isinstance(value, str) and column.length:
        # One-line text counts characters; text areas are enforced in UTF-8 bytes (FACTS 3.2).
        size = len(value.encode("utf-8")) if column.type == "textarea" else len(value)
        if size > column.length:
            return RecordFailure(
                "STRING_TOO_LONG",
                f"{column.label}: data value too large: {value[:40]}... "
                f"(max length={column.length})",
                (column.name,),
            )
    if column.type == "picklist" and column.restricted and value not in column.active_values:
        return RecordFailure(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{column.label}: bad value for restricted picklist field: {value}",
            (column.name,),
        )
    return None


def run_rules(spec: SObjectSpec, record: Record, policy: WritePolicy) -> RecordFailure | None:
    """The validation rules a test added for this object, against the record as saved."""
    for rule in policy.rules.get(spec.name.lower(), []):
        failure = rule(record)
        if failure is not None:
            return failure
    return None


def locked(policy: WritePolicy, record_id: str) -> RecordFailure | None:
    """``UNABLE_TO_LOCK_ROW`` while a test holds the row."""
    left = policy.locked.get(record_id, 0)
    if left <= 0:
        return None
    policy.locked[record_id] = left - 1
    return RecordFailure(
        "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records"
    )


def target_of(store: OrgStore, planned: Planned) -> Record | RecordFailure:
    """The stored record an update names, or why it cannot be updated."""
    record_id = planned.record_id
    prefix = planned.spec.key_prefix
    if not record_id or len(record_id) not in (15, 18) or not record_id.startswith(prefix):
        return RecordFailure("MALFORMED_ID", f"malformed id {record_id}", ("Id",))
    stored = store.get(planned.spec.name, record_id)
    if stored is None:
        return RecordFailure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ("Id",))
    if stored.get("IsDeleted"):
        return RecordFailure("ENTITY_IS_DELETED", "entity is deleted", ())
    return stored


def rolled_back() -> RecordFailure:
    """What an allOrNone call reports for records that had no error of their own."""
    return RecordFailure(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "Record rolled back because not all records were valid and the request was using "
        "AllOrNone header",
    )


def saved(record_id: str, **extra: Any) -> dict[str, Any]:
    """A successful SaveResult."""
    return {"id": record_id, "success": True, "errors": [], **extra}


def failed(failure: RecordFailure, **extra: Any) -> dict[str, Any]:
    """A failed SaveResult (no ``id``)."""
    return {"success": False, "errors": [failure.error()], **extra}


def merged(stored: Mapping[str, Any], values: Mapping[str, Any]) -> Record:
    """The record as it would read after the update (for validation rules)."""
    return {**stored, **values}
