"""Desk doorbells waiting for the next run on their desk (see :mod:`sync_jobs.run.desk_edits`).

The webhook receiver rings a desk (a target connector) with the records a verified
notification names; the next run on that desk, whichever of its jobs, takes the ring. Kept in
memory on the engine: a ring lost to a restart costs only time (the regular index refresh and
the poll still find the edit).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from connectors.base import RecordRef


@dataclass
class DeskBells:
    """Rung desks, by target connector name, with the records their notifications named."""

    _rung: dict[str, set[RecordRef]] = field(default_factory=dict)

    def ring(self, target: str, records: Iterable[RecordRef] = ()) -> None:
        """A desk notification for ``target`` arrived (naming ``records``, if any)."""
        self._rung.setdefault(target, set()).update(records)

    def take(self, target: str) -> set[RecordRef] | None:
        """The records named since the last take (None: the desk was not rung)."""
        return self._rung.pop(target, None)
