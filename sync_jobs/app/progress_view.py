"""How the CLI shows a run's progress: rich's live display on a terminal, plain lines otherwise.

On a terminal each job gets one live line (spinner, counts, elapsed time, and what it waits
for and until when); the run reports print above it as jobs finish. Redirected to a file or a
pipe, a plain line per job every ``every`` seconds (and at once when a wait begins), on
stderr so that stdout keeps only the reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress as RichProgress
from rich.progress import SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from sync_jobs.run.progress import Periodic, Progress, ProgressSink


class LiveProgress:
    """One live line per job on a terminal."""

    def __init__(self, display: RichProgress) -> None:
        self._display = display
        self._tasks: dict[str, TaskID] = {}

    def update(self, progress: Progress) -> None:
        """Redraw the job's line with its latest counts (and wait, if any)."""
        task = self._tasks.get(progress.job)
        if task is None:
            task = self._display.add_task(progress.job, total=None, detail="")
            self._tasks[progress.job] = task
        self._display.update(task, detail=escape(describe(progress)))

    def finished(self, job: str) -> None:
        """The job's report follows: its live line goes."""
        task = self._tasks.pop(job, None)
        if task is not None:
            self._display.remove_task(task)


def describe(progress: Progress) -> str:
    """The counts (and the wait) without the job's name, for a live line."""
    text = (
        f"{progress.phase}: {progress.export_pages:,} export pages · "
        f"{progress.deals_read:,} deals read · {progress.deals_mapped:,} mapped · "
        f"{progress.customers_written:,} customers written"
    )
    if progress.waiting_for is not None and progress.waiting_until is not None:
        text += (
            f" · waiting for {progress.waiting_for}'s budget until "
            f"{progress.waiting_until:%H:%M:%S} UTC"
        )
    return text


@contextmanager
def progress_for(console: Console, every: float = 10.0) -> Iterator[ProgressSink]:
    """The right display for ``console``: live on a terminal, periodic lines on stderr else."""
    if console.is_terminal:
        display = RichProgress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}[/]"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        with display:
            yield LiveProgress(display)
        return
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    yield Periodic(lambda p: errors.print(f"progress {escape(p.line())}"), every=every)
