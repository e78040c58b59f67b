"""Which decisions a person may take on each kind of conflict (CLI, alerts and docs agree)."""

from __future__ import annotations

TAKES: dict[str, tuple[str, ...]] = {
    "target_edited": ("source", "target", "value"),
    "territory_disagreement": ("target", "value", "territory"),
    "out_of_policy": ("source", "target"),
    "unmatched": ("value",),
    "ambiguous": ("value",),
    "expired_terms_present": ("target",),
}
