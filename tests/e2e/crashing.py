"""Checkpoints that end a worker process abruptly, for tests of worker crashes.

They are pickled into the worker processes by reference, so they live in a module of their own
(importable there by name), not in a test module."""

from __future__ import annotations

import os


def die_after_first_claim(name: str) -> None:
    """End the process at once (as SIGKILL would: no cleanup, no report) holding its claims."""
    if name == "after_claim":
        os._exit(9)
