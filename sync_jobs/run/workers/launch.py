"""How helper processes start: forked from a server process that imported dealbridge once.

A spawned helper is a fresh interpreter that imports dealbridge before it can claim: about
0.7 s of CPU (the imports below, measured on the 2-core bench machine), paid again by every
helper of every run. Where the platform has it (POSIX), helpers are forked from
multiprocessing's fork server instead: this process starts it once, it imports ``PRELOAD``
before its first fork, and each helper begins with those modules loaded. The server is a
fresh interpreter, not a fork of this process, so it holds none of our threads, event loops
or database connections (forking the lead itself would copy its event loop and its
database thread mid-flight). Where there is no fork server (Windows), helpers are spawned.

A forked helper inherits the server's environment (this process's as it was when the server
started), where a spawned one gets the lead's environment of the moment: the helper's spec
carries the lead's environment and the helper takes it on first (``helper.helper_main``).
Working directory and ``sys.path`` travel with multiprocessing's own preparation data.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.context import ForkServerContext, SpawnContext

from connectors.registry import BUILTIN

PRELOAD = (
    "sync_jobs.run.workers.helper",
    "sync_jobs.run.runner",
    "sync_jobs.app.event_loop",
    "sync_jobs.app.logging",
    "sync_jobs.app.collector",
    "anyio._backends._asyncio",
    *sorted(module for module in BUILTIN.values() if module.startswith("connectors.service.")),
    "sync_jobs.run.workers.frozen_heap",  # last: freezes what the imports above built
)
"""What a helper imports before it claims: its own module, the runner (mappings), the event
loop and logging it sets up, the asyncio backend httpcore imports at a process's first
request (about 30 ms of CPU), and every built-in desk's connector (a plugin desk's is
imported by the helper itself); then ``frozen_heap`` freezes the server's heap, so a helper's
collections never walk what it inherited."""


def helper_context() -> ForkServerContext | SpawnContext:
    """The multiprocessing context helpers start in: the fork server where there is one."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOAD))  # read when the server first starts
        return context
    return multiprocessing.get_context("spawn")


def adopt_environment(environment: dict[str, str]) -> None:
    """In a helper, first: take on the lead's environment as it was at the helper's start."""
    os.environ.clear()
    os.environ.update(environment)
