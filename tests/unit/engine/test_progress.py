"""What an operator sees: connectors announce long waits, a run's progress is rendered live on
a terminal and as periodic plain lines elsewhere, a failed run never says "nothing to do", and
status names every failing record and every connector waiting for its vendor's budget."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from connectors.ratelimit import VendorGate
from connectors.waits import listening
from sync_jobs.app.progress_view import LiveProgress, describe, progress_for
from sync_jobs.app.report import print_report, print_status
from sync_jobs.run.progress import Periodic, Progress
from sync_jobs.run.runner import RunReport

pytestmark = pytest.mark.anyio
NOON = datetime(2026, 12, 5, 12, tzinfo=UTC)


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress(
    job: str = "west", read: int = 0, wait: tuple[str, datetime] | None = None
) -> Progress:
    return Progress(
        job=job,
        phase="read",
        export_pages=2,
        deals_read=read,
        deals_mapped=read,
        customers_written=0,
        waiting_for=wait[0] if wait else None,
        waiting_until=wait[1] if wait else None,
    )


async def test_a_gate_holding_a_request_back_announces_the_wait_to_the_listener() -> None:
    heard: list[tuple[str, float]] = []
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    gate = VendorGate(clock=lambda: 100.0 + sum(slept), sleep=sleep)
    gate.name = "zendesk"
    gate.block_for(42.0)
    with listening(lambda connector, seconds: heard.append((connector, seconds))):
        await gate.acquire()
    gate.release()
    assert heard[0] == ("zendesk", 42.0)
    assert slept[0] == 42.0


def test_periodic_lines_stay_quiet_for_a_short_run_then_report_every_interval() -> None:
    lines: list[Progress] = []
    ticks = Ticks()
    sink = Periodic(lines.append, every=10.0, clock=ticks, wall=lambda: NOON)
    sink.update(progress(read=100))
    ticks.now = 9.0
    sink.update(progress(read=200))
    assert lines == [], "a run shorter than the interval prints nothing"
    ticks.now = 10.0
    sink.update(progress(read=300))
    ticks.now = 15.0
    sink.update(progress(read=400))
    ticks.now = 20.5
    sink.update(progress(read=500))
    assert [p.deals_read for p in lines] == [300, 500]


def test_a_long_wait_is_reported_at_once_and_only_once() -> None:
    lines: list[Progress] = []
    ticks = Ticks()
    sink = Periodic(lines.append, every=10.0, clock=ticks, wall=lambda: NOON)
    until = NOON + timedelta(seconds=58)
    sink.update(progress(read=10))
    sink.update(progress(read=10, wait=("zendesk", until)))
    sink.update(progress(read=10, wait=("zendesk", until)))
    sink.update(progress(read=10, wait=("zendesk", NOON + timedelta(seconds=2))))
    assert [(p.waiting_for, p.waiting_until) for p in lines] == [("zendesk", until)]
    assert lines[0].line().endswith("waiting for zendesk's budget until 12:00:58")


def test_the_live_display_shows_counts_and_what_the_run_waits_for() -> None:
    text = describe(progress(read=1200, wait=("zendesk", NOON + timedelta(seconds=58))))
    assert "2 export pages" in text
    assert "1,200 deals read" in text
    assert "1,200 mapped" in text
    assert "0 customers written" in text
    assert text.endswith("waiting for zendesk's budget until 12:00:58 UTC")


def test_on_a_terminal_each_job_has_a_live_line_that_goes_when_it_finishes() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200)
    with progress_for(console) as sink:
        assert isinstance(sink, LiveProgress)
        sink.update(progress("west", read=7))
        sink.update(progress("emea", read=3))
        sink.finished("west")
        assert [t.description for t in sink._display.tasks] == ["emea"]
        assert "3 deals read" in str(sink._display.tasks[0].fields["detail"])


def test_elsewhere_progress_goes_to_stderr_as_plain_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    console = Console(file=io.StringIO())  # not a terminal
    with progress_for(console, every=0.0) as sink:
        sink.update(progress("west", read=7))
    captured = capsys.readouterr()
    assert captured.err.startswith("progress west (read): 2 export pages, 7 deals read")
    assert captured.out == ""


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        ("failed", "west: failed (no work done)"),
        ("waiting", "west: waiting (no work done)"),
        ("ok", "west: ok (nothing to do)"),
    ],
)
def test_a_run_says_nothing_to_do_only_when_there_was_nothing_to_do(
    status: str, shown: str
) -> None:
    screen = io.StringIO()
    report = RunReport("west", "run-1", status, {}, ["HTTP 500"] if status == "failed" else [])  # type: ignore[arg-type]
    print_report(Console(file=screen, width=200), report)
    assert screen.getvalue().splitlines()[0] == shown


def test_status_names_each_failing_record_and_each_waiting_connector() -> None:
    screen = io.StringIO()
    data = {
        "jobs": {},
        "queue": {"pending": 1, "dead": 1},
        "open_conflicts": {},
        "failing": [
            {
                "target": "zendesk",
                "customer": "organization:17",
                "name": "Acme Corporation",
                "state": "retrying",
                "attempts": 2,
                "next_try": NOON,
                "last_error": "RecordInvalid: sla_promise is too long",
            },
            {
                "target": "zendesk",
                "customer": "organization:18",
                "name": "",
                "state": "quarantined",
                "attempts": 5,
                "next_try": None,
                "last_error": "HTTP 422",
            },
        ],
        "waiting": [
            {
                "connector": "salesforce_west",
                "budget": "24-hour API allocation",
                "until": NOON + timedelta(hours=1),
                "since": NOON,
                "jobs": ["west"],
            }
        ],
    }
    print_status(Console(file=screen, width=200), data)
    text = screen.getvalue()
    assert (
        "failing: zendesk Acme Corporation (organization:17): retrying after 2 attempt(s), "
        "next try 2026-12-05 12:00:00 UTC; last error: RecordInvalid: sla_promise is too long"
    ) in text
    assert "organization:18: quarantined after 5 attempt(s), dealbridge quarantine retry" in text
    assert (
        "waiting: salesforce_west's 24-hour API allocation is spent (since 2026-12-05 12:00 UTC); "
        "jobs west run again at 2026-12-05 13:00 UTC"
    ) in text
