"""``python -m bench.spy_groups RAW [--depth N] [--under REGEX] [--shares]``: where a py-spy
profile's samples went, grouped by dealbridge's own call path.

RAW is ``py-spy record --format raw -r 250 -o RAW -- python -m bench.local_overhead 10000``.
py-spy shows a coroutine's frames under the event loop's, and libraries' frames between ours;
grouping by the first ``--depth`` frames of our code (library frames left out, the library
underneath named in brackets: ``[sqlalchemy]``, ``[http]``) says which of our steps the CPU
went to. ``--under REGEX`` groups only the samples under the first frame matching REGEX, by the
frames just below it (drilling into one function). Counts are samples, comparable within one
profile only.

``--shares`` takes a profile recorded with ``py-spy record --native`` and says whose the run's
CPU is: dealbridge's own Python (its bytecode), the C code our Python calls directly (JSON,
Decimal, datetime, pydantic-core's validators, str and dict methods), and each library's
(its Python and the C under it). A sample whose innermost frame is a wait (epoll, a condition
variable: the loop idle, or waiting for the GIL) is counted apart, not as CPU. It is the
ceiling argument of bench/analysis.md: however fast our own code got, the rest stays.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

LIBRARIES = re.compile(
    r"\((asyncio|httpx|httpcore|h11|anyio|sqlalchemy|aiosqlite|tenacity|pydantic|jinja2|json|"
    r"concurrent|threading|ssl|selectors|structlog|<frozen|runpy|greenlet|socket|queue|uvloop)"
)
TIMED = "run_one (bench/local_overhead.py"
"""Samples whose stack passes through the benchmark's run (its imports excluded)."""
UNTIMED = re.compile(
    r"^(credentials|world_doc|bulk_world) \(|^parse_config \(sync_jobs/config/|"
    r"^open_engine \(sync_jobs/run/runner|^served_world \(bench/|^TemporaryDirectory\."
)
"""The run's setup and teardown around the timed ``run_job`` (``measure``'s clock does not
count them): world and config building, the engine's opening, the servers, the folder."""
ENTRY = re.compile(r"bench/local_overhead\.py|sync_jobs/app/event_loop\.py")
"""Frames that only lead to the work: the benchmark's and the event loop's entry."""


def samples(raw: Path) -> Iterator[tuple[list[str], int]]:
    """Each stack of the raw file (frames outermost first) with its sample count."""
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack:
            yield stack.split(";"), int(count)


def _name(frame: str) -> str:
    """``function@file`` of a py-spy frame ``function (path/file.py:line)``."""
    function, _, where = frame.partition(" (")
    return f"{function}@{where.split(':')[0]}"


def by_path(raw: Path, depth: int) -> Counter[str]:
    """The run's samples grouped by their first ``depth`` frames of dealbridge's code."""
    groups: Counter[str] = Counter()
    for stack, count in samples(raw):
        if not any(TIMED in frame for frame in stack[:8]):
            continue
        if any(UNTIMED.search(frame) for frame in stack):
            continue
        ours = [_name(f) for f in stack if not LIBRARIES.search(f) and not ENTRY.search(f)]
        below = (
            "sqlalchemy"
            if any("sqlalchemy" in f for f in stack)
            else "http"
            if any("httpcore" in f or "httpx" in f for f in stack)
            else ""
        )
        groups[" > ".join(ours[:depth]) + f" [{below}]"] += count
    return groups


def under(raw: Path, pattern: str, depth: int) -> Counter[str]:
    """Samples under the first frame matching ``pattern``, by the frames just below it."""
    found = re.compile(pattern)
    groups: Counter[str] = Counter()
    for stack, count in samples(raw):
        hits = [i for i, frame in enumerate(stack) if found.search(frame)]
        if hits:
            below = stack[hits[0] + 1 : hits[0] + 1 + depth]
            groups[" > ".join(_name(f) for f in below)] += count
    return groups


OURS = ("sync_jobs/", "connectors/")
"""Where dealbridge's own frames come from (py-spy prints paths below the import root)."""
WAIT = re.compile(r"^(epoll_pwait|epoll_wait|pthread_cond_(timed)?wait|sem_(timed)?wait|__futex)")
"""Native frames where a thread sleeps: the loop with nothing to do, or a wait for the GIL."""
_PYTHON_FRAME = re.compile(r"\(([^()]*\.py):\d+\)$")


def shares(raw: Path) -> tuple[Counter[str], int]:
    """The run's CPU samples by whose code ran (see the module doc), and the waits apart."""
    groups: Counter[str] = Counter()
    waits = 0
    for stack, count in samples(raw):
        if not any(TIMED in frame for frame in stack[:8]):
            continue
        if any(UNTIMED.search(frame) for frame in stack):
            continue
        if WAIT.search(stack[-1]):
            waits += count
            continue
        files = [(i, m[1]) for i, f in enumerate(stack) if (m := _PYTHON_FRAME.search(f))]
        if not files:
            continue
        innermost, path = files[-1]
        native = innermost < len(stack) - 1
        if path.startswith(OURS):
            groups["ours: C our Python calls" if native else "ours: Python"] += count
        else:
            groups[f"{path.split('/')[0].removesuffix('.py')}"] += count
    return groups, waits


def main() -> None:
    """Command line: see the module doc."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("raw", type=Path)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--under", default=None)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--shares", action="store_true")
    args = parser.parse_args()
    if args.shares:
        owners, waits = shares(args.raw)
        total = sum(owners.values())
        print(f"{total} CPU samples ({waits} more waiting, not counted)")
        for owner, count in owners.most_common(args.top):
            print(f"{count:6d} {100 * count / total:5.1f}% {owner}")
        return
    groups = (
        under(args.raw, args.under, args.depth) if args.under else by_path(args.raw, args.depth)
    )
    print(f"{sum(groups.values())} samples")
    for path, count in groups.most_common(args.top):
        print(f"{count:6d} {path}")


if __name__ == "__main__":
    main()
