"""How helper processes start: forked from a fork server that imported dealbridge first (and
froze the heap it built, so a helper's collections never walk it), yet seeing the lead's
environment of the moment, as a freshly spawned process would."""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from multiprocessing.connection import Connection

import pytest

from sync_jobs.run.workers import launch
from sync_jobs.run.workers.launch import adopt_environment, helper_context

PROBE = "DEALBRIDGE_LAUNCH_PROBE"
needs_fork_server = pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(),
    reason="no fork server on this platform: helpers are spawned, each with its own imports",
)


def _report(environment: dict[str, str] | None, out: Connection) -> None:
    if environment is not None:
        adopt_environment(environment)
    out.send((os.environ.get(PROBE), "connectors.service.zendesk" in sys.modules))
    out.close()


def _start(environment: dict[str, str] | None) -> tuple[str | None, bool]:
    context = helper_context()
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=_report, args=(environment, writer), daemon=True)
    process.start()
    writer.close()
    answer: tuple[str | None, bool] = reader.recv()
    process.join(timeout=30)
    return answer


@needs_fork_server
def test_a_helper_begins_with_the_desk_connectors_already_imported() -> None:
    _, imported = _start(None)
    assert imported


@needs_fork_server
def test_a_helper_sees_the_leads_environment_of_now_not_the_fork_servers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _start(None)  # the fork server is running from here on, with the environment it had
    monkeypatch.setenv(PROBE, "set after the fork server started")
    unadopted, _ = _start(None)
    adopted, _ = _start(dict(os.environ))
    assert unadopted != "set after the fork server started", "the premise: forks inherit"
    assert adopted == "set after the fork server started"


def _frozen(out: Connection) -> None:
    out.send(gc.get_freeze_count())
    out.close()


@needs_fork_server
def test_a_helper_begins_with_the_fork_servers_heap_frozen() -> None:
    context = helper_context()
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=_frozen, args=(writer,), daemon=True)
    process.start()
    writer.close()
    frozen: int = reader.recv()
    process.join(timeout=30)
    # The imports of PRELOAD are over a hundred thousand objects: all in the permanent
    # generation, so the helper's first full collection (tune_collector) has nothing to walk.
    assert frozen > 50_000


def _inherited(out: Connection) -> None:
    from connectors.http import _tls_for

    modules = ["httpcore", "h11", "connectors.sales.salesforce", "sync_jobs.app.cli"]
    out.send(([m for m in modules if m not in sys.modules], _tls_for.cache_info().currsize))
    out.close()


@needs_fork_server
def test_a_helper_begins_with_what_its_first_client_and_request_would_load() -> None:
    """httpx imports httpcore (and h11) only when a process makes its first client; the sales
    connectors and the command line's module (which multiprocessing runs again in a helper
    when the `dealbridge` script is the main program) are imported before any helper needs
    them, and the shared TLS context is built once, in the server."""
    context = helper_context()
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=_inherited, args=(writer,), daemon=True)
    process.start()
    writer.close()
    missing, contexts = reader.recv()
    process.join(timeout=30)
    assert missing == []
    assert contexts == 1


@pytest.mark.parametrize(
    ("main_spec_name", "preloaded"),
    [
        ("bench.workers", ["bench.workers"]),  # python -m bench.workers: run again in helpers
        ("pytest.__main__", []),  # a package's __main__ is never run again
        ("__main__", []),
        (None, []),  # a script given by its path, or an interactive session
    ],
)
def test_the_main_module_a_helper_runs_again_is_imported_by_the_server_first(
    monkeypatch: pytest.MonkeyPatch, main_spec_name: str | None, preloaded: list[str]
) -> None:
    main = type(sys)("__main__")
    main.__spec__ = None if main_spec_name is None else type("Spec", (), {"name": main_spec_name})()
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert launch._main_module() == preloaded
