"""Desk requests per written record for a ServiceNow backfill, and the hourly budget it needs.

Usage: python -m bench.servicenow_backfill [RECORDS] [--rule N] [--item-seconds S]

Plays what the engine does on a first run against a simulated instance holding RECORDS
accounts (default 5,000): the identity index from the feed, then per ``write_batch_size``
(100) records one ``read`` and one ``write`` of five changed columns (the note and four deal
columns), each change carrying the version it was planned on. Requests are counted by the
connector's ``VendorClient.stats`` (the OAuth token endpoint separately) and by kind from the
simulator's request log. Time is virtual (the connector's waits move the simulator's clock).

The budget: the instance's per-hour rule (``--rule``, default 1,000 an hour) of which the
connector plans ``hourly_share`` (90%); the table shows how many hours the backfill needs
under it, both as the connector plans (every Batch API item counted as a request, since how
the instance counts them is undocumented) and if a batch call counts once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import structlog
from pydantic import SecretStr

from connectors.base import RecordChange, RecordRef
from connectors.registry import get_spec
from connectors.service.servicenow import ServiceNowTarget
from connectors.service.servicenow.simulator import (
    DEMO_BASE_URL,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    ServiceNowSimulator,
)
from connectors.settings import ConnectorOptions


@dataclass(frozen=True)
class Measured:
    """What one backfill cost."""

    records: int
    written: int
    requests: int
    by_kind: Counter[str]
    token_grants: int
    batch_items: int
    batches: int
    budget_spent: int


def connector(sim: ServiceNowSimulator, rule: int) -> ServiceNowTarget:
    """The connector as the engine builds it, planned against a rule of ``rule`` an hour."""
    spec = get_spec("servicenow")
    config = spec.config_model.model_validate(
        {
            "kind": "servicenow",
            "base_url": DEMO_BASE_URL,
            "auth": {
                "flow": "client_credentials",
                "client_id": DEMO_CLIENT_ID,
                "client_secret": SecretStr(DEMO_CLIENT_SECRET),
            },
            "external_id_fields": {"account": "u_customer_number"},
            "requests_per_hour": rule,
            "max_throttle_wait": 48 * 3600,  # a benchmark waits instead of holding the job
        }
    )

    async def sleep(seconds: float) -> None:
        sim.pass_time(seconds)

    options = ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=sleep)
    target = spec.factory("servicenow", config, options)
    assert isinstance(target, ServiceNowTarget)
    return target


def kind_of(path: str, query: str) -> str:
    """What a logged request was for."""
    if path.endswith("/batch"):
        return "batch (write)"
    if "/sys_" in path:
        return "catalog"
    if "sys_updated_on" in query:
        return "identity feed"
    if "sys_mod_count" in query and "sys_idIN" in query.replace("%5E", "^").replace("%2C", ","):
        return "versions (write)"
    return "read"


async def backfill(records: int, rule: int, item_seconds: float) -> Measured:
    """Index, read and write ``records`` accounts once."""
    sim = ServiceNowSimulator(item_seconds=item_seconds)
    sim.seed_bulk(records)
    sim.pass_time(60)  # seeded a minute ago: outside the feed's settle window
    target = connector(sim, rule)
    refs = [r.ref async for page in target.customers(None) for r in page.records]
    size = target.write_batch_size
    written = 0
    until = (datetime.now(UTC).date() + timedelta(days=90)).isoformat()
    for start in range(0, len(refs), size):
        current = await target.read(refs[start : start + size])
        changes = [
            RecordChange(
                ref=RecordRef(kind="account", id=record.ref.id),
                fields={
                    "notes": "=== dealbridge: special terms ===\nSpecial terms: 1 active deal(s)",
                    "u_special_discount": 15,
                    "u_payment_terms": "net60",
                    "u_terms_valid_until": until,
                    "u_sla_promise": "4h response on P1",
                },
                expected_version=record.version,
            )
            for record in current
        ]
        written += sum(r.ok for r in await target.write(changes))
    by_kind = Counter(kind_of(r.path, r.query) for r in sim.controls.requests if "/api/" in r.path)
    stats = target.api.http.stats
    grant = target.api.grant
    measured = Measured(
        records=records,
        written=written,
        requests=stats.total,
        by_kind=by_kind,
        token_grants=grant.grants if grant is not None else 0,
        batch_items=len(sim.instance.item_log),
        batches=by_kind["batch (write)"],
        budget_spent=target.api.pacing.hourly.spent(),
    )
    await target.aclose()
    return measured


def report(m: Measured, rule: int, share: float = 0.9) -> list[str]:
    """The table the README and the report quote."""
    planned = int(rule * share)
    counted_items = m.requests + m.batch_items
    lines = [
        f"| records | {m.records:,} (written: {m.written:,}) |",
        f"| desk requests | {m.requests:,} (+{m.token_grants} OAuth token request) |",
        f"| desk requests per written record | {m.requests / max(1, m.written):.3f} |",
    ]
    lines += [f"| - {kind} | {count:,} |" for kind, count in sorted(m.by_kind.items())]
    lines += [
        f"| Batch API | {m.batches} calls, {m.batch_items:,} PATCH items "
        f"({m.batch_items / max(1, m.batches):.0f} a call) |",
        f"| budget | rule {rule:,}/hour, dealbridge plans {planned:,}/hour ({share:.0%}) |",
        f"| counted as the connector plans (each batch item a request) | {counted_items:,} "
        f"= {counted_items / max(1, m.written):.2f} per record, "
        f"{math.ceil(counted_items / planned)} hour(s) |",
        f"| if a batch call counts once | {m.requests:,} = "
        f"{math.ceil(m.requests / planned)} hour(s) |",
    ]
    return lines


def main() -> None:
    """Run and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("records", nargs="?", type=int, default=5000)
    parser.add_argument("--rule", type=int, default=1000, help="the instance's rule, per hour")
    parser.add_argument(
        "--item-seconds", type=float, default=0.2, help="instance time an item takes"
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    measured = asyncio.run(backfill(args.records, args.rule, args.item_seconds))
    print("| ServiceNow backfill | |")
    print("|---|---|")
    for line in report(measured, args.rule):
        print(line)


if __name__ == "__main__":
    main()
