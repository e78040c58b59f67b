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
import sys
from multiprocessing.context import ForkServerContext, SpawnContext

from connectors.registry import BUILTIN

PRELOAD = (
    "sync_jobs.run.workers.helper",
    "sync_jobs.run.runner",
    "sync_jobs.app.event_loop",
    "sync_jobs.app.logging",
    "sync_jobs.app.collector",
    "sync_jobs.app.cli",
    "anyio._backends._asyncio",
    "httpcore",
    *sorted(BUILTIN.values()),
    "sync_jobs.run.workers.warm_caches",
    "sync_jobs.run.workers.frozen_heap",  # last: freezes what the imports above built
)
"""What a helper imports before it claims: its own module, the runner (mappings), the event
loop and logging it sets up; the command line's module, which multiprocessing runs again in
every helper when the ``dealbridge`` script is the main program (about 20 ms); the asyncio
backend and httpcore, which httpx imports only at a process's first request and first client
(about 45 ms together); every built-in connector, sales and desk (a plugin's is imported by
the helper itself); then ``warm_caches`` builds what every helper would build first, and
``frozen_heap`` freezes the server's heap, so a helper's collections never walk what it
inherited."""


def helper_context() -> ForkServerContext | SpawnContext:
    """The multiprocessing context helpers start in: the fork server where there is one."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        preload = [*PRELOAD[:-1], *_main_module(), PRELOAD[-1]]
        context.set_forkserver_preload(preload)  # read when the server first starts
        return context
    return multiprocessing.get_context("spawn")


def _main_module() -> list[str]:
    """The module this program runs as (``python -m NAME``), which multiprocessing runs again in
    each helper so that what it defines unpickles there: imported in the server first, its
    own imports are already loaded when a helper runs it (a benchmark's main module imported
    its servers and fixtures in each helper: 70 ms). A package's ``__main__`` is never run
    again, so it is left out."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    name = getattr(spec, "name", None)
    if not isinstance(name, str) or name == "__main__" or name.endswith(".__main__"):
        return []
    return [name]


def adopt_environment(environment: dict[str, str]) -> None:
    """In a helper, first: take on the lead's environment as it was at the helper's start."""
    os.environ.clear()
    os.environ.update(environment)
