"""Which records the index refresh hands to stage 2 as agent edits: those whose desk copy no
longer holds what dealbridge wrote; our own writes coming back through the feed cost nothing."""

from __future__ import annotations

from typing import Any

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.run.desk_bells import DeskBells
from sync_jobs.run.desk_edits import differs
from sync_jobs.store.bases import Written, note_hash

NOTE = "notes"
WRITTEN = Written({"organization_fields.special_discount": 10}, note_hash("=== terms ==="))


def record(**fields: Any) -> CustomerRecord:
    return CustomerRecord(ref=RecordRef(kind="organization", id="7"), fields=fields)


def test_our_own_write_coming_back_is_not_an_edit() -> None:
    same = record(**{"organization_fields.special_discount": "10.0", NOTE: "=== terms ==="})
    assert differs(same, WRITTEN, NOTE) is False


def test_an_agent_edit_of_a_written_field_is_an_edit() -> None:
    edited = record(**{"organization_fields.special_discount": 7, NOTE: "=== terms ==="})
    assert differs(edited, WRITTEN, NOTE) is True


def test_an_agent_edit_of_the_note_is_an_edit() -> None:
    edited = record(**{"organization_fields.special_discount": 10, NOTE: "=== terms === hi"})
    assert differs(edited, WRITTEN, NOTE) is True


def test_a_feed_entry_without_the_written_fields_cannot_tell() -> None:
    assert differs(record(), WRITTEN, NOTE) is None
    only_field = record(**{"organization_fields.special_discount": 10})
    assert differs(only_field, WRITTEN, NOTE) is None
    edited_but_no_note = record(**{"organization_fields.special_discount": 3})
    assert differs(edited_but_no_note, WRITTEN, NOTE) is True, "what it does carry tells"


def test_a_desk_bell_is_taken_once_with_every_record_named_since() -> None:
    bells = DeskBells()
    assert bells.take("zendesk") is None
    bells.ring("zendesk", [RecordRef(kind="organization", id="1")])
    bells.ring("zendesk")
    bells.ring("zendesk", [RecordRef(kind="user", id="2")])
    assert bells.take("zendesk") == {
        RecordRef(kind="organization", id="1"),
        RecordRef(kind="user", id="2"),
    }
    assert bells.take("zendesk") is None
    bells.ring("freshdesk")
    assert bells.take("freshdesk") == set(), "rung without naming a record"
