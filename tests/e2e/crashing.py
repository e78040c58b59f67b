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


def wait_for_the_helpers_to_end(name: str) -> None:
    """In the lead, after it handed its first page: until its helpers ended (at most 60 s),
    so that a helper takes that page's unit before the lead could take it back."""
    if name != "after_stage1_commit":
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
        child.name.startswith("dealbridge-worker-") for child in multiprocessing.active_children()
    ):
        time.sleep(0.05)
