"""The pure domain: deal terms, mapping, matching, planning, policies and the agent note.

No I/O here: no SQL, no HTTP, no clock; everything a decision needs is passed in."""
