"""bench.floor replays a run's own I/O with no dealbridge code: the replay must be the run's
work (the same requests answered alike, the same bytes, the same rows stored), or its CPU
says nothing about the run's."""

from __future__ import annotations

from pathlib import Path

import pytest
import respx

from bench.floor import (
    SEND_IN_ONE_TRIP,
    Exchange,
    Record,
    replay_http,
    replay_sql,
    rows_by_table,
    run_and_replay,
)
from sync_jobs.app import event_loop
from sync_jobs.store import hop
from sync_jobs.store.db import make_engine, migrate_async

pytestmark = pytest.mark.e2e


def test_a_replay_sends_what_the_run_sent_and_stores_what_it_stored() -> None:
    row = run_and_replay(40)  # raises when a status, a byte count or a table differs

    assert row["requests"] >= 6  # token, deals, export, read, write, job status at least
    assert row["statements"] > 20
    assert row["received_mb"] == row["run_received_mb"] > 0


def test_the_stores_one_trip_statements_are_recorded_with_their_transactions(
    tmp_path: Path,
) -> None:
    record = Record()
    url = f"sqlite:///{tmp_path / 'state.db'}"

    async def write_two_rows() -> None:
        await migrate_async(url)
        engine = make_engine(url)
        record.watch(engine)
        insert = hop.Statement(
            "INSERT INTO field_catalog (connector, identity, fields, fetched_at) "
            "VALUES (?, ?, '[]', '2026-12-07 00:00:00')",
            [("zendesk", "a"), ("freshdesk", "b")],
            many=True,
        )
        async with engine.begin() as conn:
            await hop.run(conn, [insert])
        await engine.dispose()

    try:
        event_loop.run(write_two_rows())
    finally:
        record.stop()

    assert hop.run is SEND_IN_ONE_TRIP, "the store's own sender is back"
    assert record.sql[-1] is None, "the commit is marked"
    replayed = f"sqlite:///{tmp_path / 'replay.db'}"
    event_loop.run(migrate_async(replayed))
    event_loop.run(replay_sql(record.sql, replayed))
    assert rows_by_table(tmp_path / "replay.db")["field_catalog"] == 2


@respx.mock
def test_an_answer_unlike_the_runs_is_counted_and_a_new_session_token_is_used() -> None:
    respx.post("http://crm.test/token").respond(200, json={"access_token": "fresh"})
    deals = respx.get("http://crm.test/deals").respond(200, json={"records": []})
    respx.get("http://crm.test/gone").respond(404, json={"error": "not found"})
    run = [
        Exchange("crm", "POST", "/token", (), b"", status=200),
        Exchange("crm", "GET", "/deals", (("authorization", "Bearer stale"),), b"", status=200),
        Exchange("crm", "GET", "/gone", (), b"", status=200),  # the run's server had it
    ]

    replayed = event_loop.run(replay_http(run, {"crm": "http://crm.test"}))

    assert replayed.other_status == 1
    assert deals.calls.last.request.headers["authorization"] == "Bearer fresh"
    assert replayed.received == sum(
        len(call.response.content) for call in respx.calls if call.response is not None
    )
