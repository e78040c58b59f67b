"""A Dataverse environment simulator (Starlette) for the demo, the tests and the benchmarks.

Modelled from ``connectors/sales/dynamics/FACTS.md`` (each module names its sections): Entra
client credentials (:mod:`.entra`), collection reads with server-driven paging and change
tracking (:mod:`.reads`), ``$select``/``$filter``/``$orderby``/``$expand`` (:mod:`.query`,
:mod:`.filters`), the metadata API with choices (:mod:`.metadata`), service protection limits
(:mod:`.limits`) and Dataverse's error bodies (:mod:`.errors`). ``DynamicsSimulator`` holds one
environment and its helpers; faults and latency come from its :class:`~sandbox.controls.
SimControls`.

Demo credentials are the ``DEMO_*`` constants; :func:`connector_config` writes the connector
config that uses them through ``${ENV}`` references (:data:`DEMO_ENV`).
"""

from __future__ import annotations

from typing import Any

from connectors.sales.dynamics.simulator.limits import LimitSettings
from connectors.sales.dynamics.simulator.reads import TrackingSettings
from connectors.sales.dynamics.simulator.simulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT,
    ENVIRONMENT_URL,
    DynamicsSimulator,
    SimClock,
)
from sandbox.controls import ASGIApp, Fault
from sandbox.harness import ContractHarness

SECRET_ENV = "DYNAMICS_SANDBOX_CLIENT_SECRET"  # noqa: S105 - the variable's name
DEMO_ENV = {SECRET_ENV: DEMO_CLIENT_SECRET}
"""Environment the :func:`connector_config` secret reference resolves against."""
HARNESS_PAGE = 5

THROTTLE_BODY = {
    "error": {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    }
}


def connector_config(base_url: str = ENVIRONMENT_URL, **overrides: Any) -> dict[str, Any]:
    """Raw ``kind: dynamics`` config for the demo environment (the secret as ``${ENV}``)."""
    config: dict[str, Any] = {
        "kind": "dynamics",
        "base_url": base_url,
        "auth": {
            "tenant_id": DEMO_TENANT,
            "client_id": DEMO_CLIENT_ID,
            "client_secret": "${" + SECRET_ENV + "}",
        },
    }
    return config | overrides


def throttle_fault(times: int = 1, retry_after: str = "1") -> Fault:
    """Dataverse's 429 for the request budget, with Retry-After, on Web API calls."""
    return Fault(
        status=429,
        body=THROTTLE_BODY,
        path_contains="/api/data/",
        headers={"Retry-After": retry_after},
        times=times,
    )


def auth_fault(times: int = 1_000_000) -> Fault:
    """A 401 on every Web API call (revoked application user: a new token does not help)."""
    return Fault(status=401, body="", path_contains="/api/data/", times=times)


def demo_app() -> ASGIApp:
    """A simulator seeded with the Central territory, with Dataverse's real limits."""
    return DynamicsSimulator(seed=True).app


def contract_harness() -> ContractHarness:
    """A seeded environment for the contract suite: 5-row pages, Dataverse's 429 and 401."""
    sim = DynamicsSimulator(seed=True)
    return ContractHarness(
        kind="dynamics",
        app=sim.app,
        controls=sim.controls,
        config=connector_config(page_size=HARNESS_PAGE),
        env=dict(DEMO_ENV),
        secret=DEMO_CLIENT_SECRET,
        throttle_fault=throttle_fault(),
        auth_fault=auth_fault(),
        seed_equal_timestamps=lambda n: _discard(sim.seed_equal_timestamps(n)),
        page_size=HARNESS_PAGE,
        extra={"simulator": sim},
    )


def _discard(_ids: list[str]) -> None:
    """The harness seeder returns nothing; the ids are the simulator's business."""


DEMO_CREDENTIALS = {"DEALBRIDGE_DYNAMICS_SECRET": DEMO_CLIENT_SECRET}
"""The variables the demo config's secret references read (demo credentials, not secrets)."""


def demo_simulator(fast: bool = False) -> DynamicsSimulator:
    """The Central territory's environment (``fast`` changes nothing here)."""
    del fast
    return DynamicsSimulator(seed=True)


__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_ENV",
    "DEMO_TENANT",
    "ENVIRONMENT_URL",
    "SECRET_ENV",
    "DynamicsSimulator",
    "LimitSettings",
    "SimClock",
    "TrackingSettings",
    "auth_fault",
    "connector_config",
    "contract_harness",
    "demo_app",
    "throttle_fault",
]
