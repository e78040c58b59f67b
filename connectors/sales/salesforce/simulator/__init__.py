"""Salesforce simulator: an in-memory org behind the REST paths the connector uses.

``SalesforceSimulator`` holds the records, sessions and API budget; ``.app`` is the ASGI app
already wrapped by ``.controls`` (latency, faults, request log). ``demo_app()`` serves the demo
world's West territory; ``contract_harness()`` hands the shared contract suite a seeded org
whose batches hold five records, so a handful of deals spans several pages.

Demo credentials (refresh-token flow) are the ``DEMO_*`` constants; :func:`connector_config`
writes the connector config that uses them through ``${ENV}`` references (``DEMO_ENV``).
"""

from __future__ import annotations

from typing import Any

from connectors.sales.salesforce.simulator.simulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REFRESH_TOKEN,
    DEMO_USERNAME,
    SalesforceSimulator,
)
from sandbox.controls import ASGIApp, Fault
from sandbox.harness import ContractHarness

SANDBOX_URL = "https://west.sandbox.salesforce.test"
"""A login URL on a reserved TLD: with the simulator's transport nothing leaves the process."""

HARNESS_BATCH = 5

DEMO_ENV = {
    "SF_SANDBOX_CLIENT_SECRET": DEMO_CLIENT_SECRET,
    "SF_SANDBOX_REFRESH_TOKEN": DEMO_REFRESH_TOKEN,
}
"""Environment the :func:`connector_config` secret references resolve against."""

THROTTLE_BODY = [
    {"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
]
"""The short throttle a connector waits out: the concurrent long-request limit (the spent
24-hour allocation says "TotalRequests" and stops the job instead)."""
EXPIRED_BODY = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def connector_config(base_url: str = SANDBOX_URL, **overrides: Any) -> dict[str, Any]:
    """Raw ``kind: salesforce`` config for the demo org (secrets as ``${ENV}`` references)."""
    config: dict[str, Any] = {
        "kind": "salesforce",
        "base_url": base_url,
        "auth": {
            "flow": "refresh_token",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": "${SF_SANDBOX_CLIENT_SECRET}",
            "refresh_token": "${SF_SANDBOX_REFRESH_TOKEN}",
        },
    }
    return config | overrides


def demo_app() -> ASGIApp:
    """A simulator seeded with the demo world, as an ASGI app (``dealbridge sandbox serve``)."""
    return SalesforceSimulator(seed=True).app


def contract_harness() -> ContractHarness:
    """A seeded org for the contract suite: 5-record batches, Salesforce's throttle and
    expired-session answers as faults, and a tie-timestamp seeder."""
    sim = SalesforceSimulator(seed=True, batch_cap=HARNESS_BATCH)
    api_calls = "/services/data/v"
    return ContractHarness(
        kind="salesforce",
        app=sim.app,
        controls=sim.controls,
        config=connector_config(throttle_retry_after=0.01),
        env=dict(DEMO_ENV),
        secret=DEMO_REFRESH_TOKEN,
        throttle_fault=Fault(
            status=403,
            body=THROTTLE_BODY,
            path_contains=api_calls,
            headers={"Sforce-Limit-Info": "api-usage=18000/100000"},
        ),
        auth_fault=Fault(status=401, body=EXPIRED_BODY, path_contains=api_calls, times=1_000_000),
        seed_equal_timestamps=lambda n: _discard(sim.seed_equal_timestamps(n)),
        page_size=HARNESS_BATCH,
        extra={"simulator": sim},
    )


def _discard(_ids: list[str]) -> None:
    """The harness seeder returns nothing; the ids are the simulator's business."""


__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_ENV",
    "DEMO_REFRESH_TOKEN",
    "DEMO_USERNAME",
    "SANDBOX_URL",
    "SalesforceSimulator",
    "connector_config",
    "contract_harness",
    "demo_app",
]


DEMO_CREDENTIALS = {
    "DEALBRIDGE_SF_CLIENT_SECRET": DEMO_CLIENT_SECRET,
    "DEALBRIDGE_SF_REFRESH_TOKEN": DEMO_REFRESH_TOKEN,
}
"""The variables the demo config's secret references read (demo credentials, not secrets)."""


def demo_simulator(fast: bool = False) -> SalesforceSimulator:
    """The West territory's org as the demo world seeds it (``fast`` changes nothing here)."""
    del fast
    return SalesforceSimulator(seed=True)
