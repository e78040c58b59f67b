"""Checkpoints that end a worker process abruptly, for tests of worker crashes.

They are pickled into the worker processes by reference, so they live in a module of their own
(importable there by name), not in a test module."""

from __future__ import annotations

import multiprocessing
import os
import time


def die_after_first_claim(name: str) -> None:
    """End the process at once (as SIGKILL would: no cleanup, no report) holding its claims."""
    if name == "after_claim":
        os._exit(9)


def die_holding_a_unit(name: str) -> None:
    """End a helper with a unit of stage 1's deals taken from the lead, not committed."""
    if name == "helper_took_unit":
        os._exit(9)


def die_before_answering_for_a_unit(name: str) -> None:
    """End a helper once it committed a unit of deals, before it tells the lead."""
    if name == "helper_committed_unit":
        os._exit(9)


class WaitForTheHelpersToEnd:
    """In the lead, once it handed its first page and decided how its units are committed
    (a backfill reads while the index refresh runs, and its helpers commit nothing before
    that): until its helpers ended (at most 60 s), so that a helper takes that page's unit,
    and commits it, before the lead could take it back."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, name: str) -> None:
        if name not in ("after_stage1_commit", "stage1_decided") or name in self.seen:
            return
        self.seen.add(name)
        if len(self.seen) < 2:
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(
            child.name.startswith("dealbridge-worker-")
            for child in multiprocessing.active_children()
        ):
            time.sleep(0.05)
