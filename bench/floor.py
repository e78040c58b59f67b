"""The floor under the one-core figure: what a run's own I/O costs with no dealbridge code.

Usage: python -m bench.floor [N ...]      (default: 10000)

For each N, runs the West job once over N deals exactly as ``bench.local_overhead`` does (the
simulators in a child process), recording every HTTP exchange it makes (method, URL,
headers, body, and the answer's status and length) and every SQL statement with its
parameters and where each transaction committed. Then it replays that record with no
dealbridge code in between:

- the same requests in the same order, one at a time, through one bare ``httpx.AsyncClient``
  a vendor, to a second world seeded as the run's was; each JSON request body encoded again
  and each JSON answer decoded with the parser the connectors use (any implementation has to
  write and read those bodies). A session token the new world issues replaces the run's;
- the same statements in the same transactions on a freshly migrated store, through the
  same engine settings (``make_engine``): SQLAlchemy's statements as their driver text
  (no compiling), the store's one-trip batches through ``hop.run`` as the run sent them.

The replay must be the run's work: if an answer's status differs, the bytes received
differ, or the replayed store holds other row counts than the run's, it stops and says so.
Its CPU (``time.process_time()``, every thread) is what the libraries on this stack cost
to do this run's I/O and nothing else: however little dealbridge's own code cost, a run
could not spend much less. One row per N:

    | deals | requests | statements | MB received (run / replay) | run CPU s |
    | replay CPU s (HTTP) | replay / run | run deals per CPU s | ceiling deals per CPU s |

"ceiling" is N over the replay's CPU: the one-core figure if dealbridge's own code were free.
The replay errs low rather than high: it skips the run's concurrency (tasks, locks, several
connections), its statements' compiling and, where two connections' transactions
interleaved, their separate commits.

Compare figures as ratios within one invocation: the machine is shared.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import structlog
from pydantic_core import from_json
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench.local_overhead import measure, served_world
from sync_jobs.app import event_loop
from sync_jobs.app.collector import tune_collector
from sync_jobs.store import hop
from sync_jobs.store.db import make_engine, migrate_async

SEND_IN_ONE_TRIP = hop.run
"""The store's own one-trip sender (``Record.watch`` puts a recording one in its place)."""


@dataclass(frozen=True)
class Executed:
    """A statement SQLAlchemy handed the driver, with the driver's parameters."""

    sql: str
    parameters: Any


Step = Executed | tuple[hop.Statement, ...]
"""One statement through SQLAlchemy, or a store's statements sent in one trip (``hop.run``)."""

LEFT_TO_THE_CLIENT = frozenset({"host", "content-length", "accept-encoding", "connection"})
"""Request headers the replaying client sets itself."""


@dataclass(frozen=True)
class Exchange:
    """One request as the run sent it."""

    connector: str
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    is_json: bool = False
    json_body: Any = None
    """The body decoded, when it was JSON (the replay encodes it again, as the run did)."""
    status: int = 0
    """What the run's server answered (the replay's must answer the same)."""
    size: int = 0
    """The length of the run's answer (its Content-Length)."""

    def decoded(self) -> Exchange:
        """With its JSON body decoded (after the run: decoding is not the run's work)."""
        if not (self.is_json and self.body):
            return self
        return replace(self, json_body=json.loads(self.body))


@dataclass
class Record:
    """Everything a run sent: its HTTP exchanges and its SQL, in order."""

    exchanges: list[Exchange] = field(default_factory=list)
    sql: list[Step | None] = field(default_factory=list)
    """The run's steps in order; None where a transaction committed."""

    def watch(self, engine: AsyncEngine) -> None:
        """Record the engine's statements and commits from now on, both the ones SQLAlchemy
        executes and the ones the store hands the driver itself through ``hop.run``."""

        def executed(
            _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
        ) -> None:
            self.sql.append(Executed(statement, parameters))

        async def hop_run(
            conn: AsyncConnection, statements: Sequence[hop.Statement]
        ) -> list[hop.Outcome]:
            self.sql.append(tuple(statements))
            return await SEND_IN_ONE_TRIP(conn, statements)

        sa.event.listen(engine.sync_engine, "before_cursor_execute", executed)
        sa.event.listen(engine.sync_engine, "commit", lambda _conn: self.sql.append(None))
        hop.run = hop_run  # every store module calls it as ``hop.run``

    def stop(self) -> None:
        """Put the store's own one-trip sender back (the engine's listeners end with it)."""
        hop.run = SEND_IN_ONE_TRIP


class RecordingTransport(httpx.AsyncHTTPTransport):
    """The connector's usual transport, writing down each request before sending it."""

    def __init__(self, record: Record, connector: str) -> None:
        super().__init__()
        self.record = record
        self.connector = connector

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = tuple(
            (k, v) for k, v in request.headers.items() if k.lower() not in LEFT_TO_THE_CLIENT
        )
        exchange = Exchange(
            connector=self.connector,
            method=request.method,
            target=request.url.raw_path.decode(),
            headers=headers,
            body=body,
            is_json=request.headers.get("content-type", "").startswith("application/json"),
        )
        response = await super().handle_async_request(request)
        size = int(response.headers.get("content-length", 0))
        self.record.exchanges.append(replace(exchange, status=response.status_code, size=size))
        return response


@dataclass
class Replayed:
    """What the HTTP replay got back."""

    received: int = 0
    """Bytes of answers."""
    other_status: int = 0
    """Answers whose status differs from the run's (0: the replay did the run's work)."""


async def replay_http(exchanges: list[Exchange], base_urls: dict[str, str]) -> Replayed:
    """Send each request again, one at a time, to a world seeded as the run's was (at
    ``base_urls``, by connector), decoding JSON answers with the parser connectors use."""
    clients = {
        # Plain HTTP: no certificate bundle to load (the run's clients load none either).
        name: httpx.AsyncClient(base_url=url, transport=httpx.AsyncHTTPTransport(verify=False))
        for name, url in base_urls.items()
    }
    replayed = Replayed()
    try:
        for exchange in exchanges:
            body = exchange.body
            if exchange.json_body is not None:
                body = json.dumps(exchange.json_body).encode()
            client = clients[exchange.connector]
            headers = [(k, v) for k, v in exchange.headers if k not in client.headers]
            response = await client.request(
                exchange.method, exchange.target, headers=headers, content=body
            )
            replayed.received += len(response.content)
            replayed.other_status += response.status_code != exchange.status
            if response.headers.get("content-type", "").startswith("application/json"):
                answer = from_json(response.content, cache_strings="keys")
                if isinstance(answer, dict) and "access_token" in answer:
                    # This world's session is another: its token replaces the run's.
                    clients[exchange.connector].headers["authorization"] = (
                        f"Bearer {answer['access_token']}"
                    )
    finally:
        for client in clients.values():
            await client.aclose()
    return replayed


async def replay_sql(sql: list[Step | None], url: str) -> None:
    """The statements again, in the same transactions, on the store at ``url`` (freshly
    migrated by the caller: the migration is not the run's work)."""
    engine = make_engine(url)
    try:
        for transaction in transactions(sql):
            async with engine.begin() as conn:
                for step in transaction:
                    if isinstance(step, Executed):
                        result = await conn.exec_driver_sql(step.sql, step.parameters)
                        if result.returns_rows:
                            result.fetchall()
                    else:
                        await SEND_IN_ONE_TRIP(conn, step)
    finally:
        await engine.dispose()


def transactions(sql: list[Step | None]) -> Iterator[list[Step]]:
    """The recorded steps, cut where each transaction committed."""
    transaction: list[Step] = []
    for step in sql:
        if step is not None:
            transaction.append(step)
        elif transaction:
            yield transaction
            transaction = []
    if transaction:
        yield transaction


def rows_by_table(database: Path) -> dict[str, int]:
    """How many rows each table of a SQLite store holds."""
    with closing(sqlite3.connect(database)) as db:
        tables = [
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {name: db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables}


def run_and_replay(count: int) -> dict[str, float]:
    """One recorded run over ``count`` deals and its replay, against the same servers."""
    record = Record()
    with tempfile.TemporaryDirectory() as folder:
        with served_world(count) as urls:
            transports: dict[str, httpx.AsyncBaseTransport] = {
                name: RecordingTransport(record, name) for name in urls
            }
            try:
                run = event_loop.run(
                    measure(
                        count, Path(folder), urls, transports=transports, watch_store=record.watch
                    )
                )
            finally:
                record.stop()
        exchanges = [exchange.decoded() for exchange in record.exchanges]
        # A world seeded as the run's was: the same answers to the same requests.
        with served_world(count) as urls:
            cpu_started = time.process_time()
            replayed = event_loop.run(replay_http(exchanges, urls))
            http_cpu = time.process_time() - cpu_started
        url = f"sqlite:///{folder}/replay/state.db"
        event_loop.run(migrate_async(url))
        cpu_started = time.process_time()
        event_loop.run(replay_sql(record.sql, url))
        sql_cpu = time.process_time() - cpu_started
        stored = {"run": rows_by_table(Path(folder) / "state.db")}
        stored["replay"] = rows_by_table(Path(folder) / "replay" / "state.db")
    if replayed.other_status:
        raise SystemExit(
            f"{replayed.other_status} of {len(record.exchanges)} replayed requests were "
            "answered with another status than in the run: the replay is not the run's work"
        )
    if stored["replay"] != stored["run"]:
        raise SystemExit(f"the replayed store differs from the run's: {stored}")
    replay_cpu = http_cpu + sql_cpu
    return {
        "run_cpu": run["cpu_seconds"],
        "replay_cpu": replay_cpu,
        "http_cpu": http_cpu,
        "requests": len(record.exchanges),
        "statements": sum(
            1 if isinstance(step, Executed) else len(step)
            for step in record.sql
            if step is not None
        ),
        "received_mb": replayed.received / 1e6,
        "run_received_mb": sum(exchange.size for exchange in record.exchanges) / 1e6,
    }


def main() -> None:
    """Print one row per N."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    tune_collector()  # as the dealbridge command does
    sizes = [int(a) for a in sys.argv[1:]] or [10000]
    print(
        "| deals | requests | statements | MB received (run / replay) | run CPU s "
        "| replay CPU s (HTTP) | replay / run | run deals per CPU s | ceiling deals per CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for count in sizes:
        row = run_and_replay(count)
        print(
            f"| {count} | {row['requests']:.0f} | {row['statements']:.0f} "
            f"| {row['run_received_mb']:.1f} / {row['received_mb']:.1f} | {row['run_cpu']:.2f} "
            f"| {row['replay_cpu']:.2f} ({row['http_cpu']:.2f}) "
            f"| {row['replay_cpu'] / row['run_cpu']:.2f} | {count / row['run_cpu']:.0f} "
            f"| {count / row['replay_cpu']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
