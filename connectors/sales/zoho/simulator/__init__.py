"""Zoho CRM simulator: one org in one data centre, behind every data centre's hosts.

``ZohoSimulator`` holds the org (records, users, deletions, fields metadata), its accounts
server, credits and concurrency; ``.app`` is the ASGI app already wrapped by ``.controls``
(latency, faults, request log). Each modelled behaviour names its FACTS.md section in the module
that models it: :mod:`.app` (hosts, auth, limits), :mod:`.oauth`, :mod:`.listing` (list,
``ids``, deleted, paging), :mod:`.coql`, :mod:`.limits`, :mod:`.org`, :mod:`.render`.

``demo_app()`` serves the LATAM demo territory; ``contract_harness()`` hands the shared contract
suite an org whose reads page five deals at a time.
"""

from __future__ import annotations

from typing import Any

from connectors.sales.zoho.simulator.limits import THROTTLE_BODY
from connectors.sales.zoho.simulator.simulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REFRESH_TOKEN,
    ZohoSimulator,
)
from sandbox.controls import ASGIApp, Fault
from sandbox.harness import ContractHarness

DEMO_ENV = {
    "ZOHO_SIM_CLIENT_SECRET": DEMO_CLIENT_SECRET,
    "ZOHO_SIM_REFRESH_TOKEN": DEMO_REFRESH_TOKEN,
}
"""Environment the :func:`connector_config` secret references resolve against."""
HARNESS_PAGE = 5
INVALID_TOKEN_BODY = {
    "code": "INVALID_TOKEN",
    "details": {},
    "message": "invalid oauth token",
    "status": "error",
}


def connector_config(data_centre: str = "eu", **overrides: Any) -> dict[str, Any]:
    """Raw ``kind: zoho`` config for the simulated org (secrets as ``${ENV}`` references)."""
    config: dict[str, Any] = {
        "kind": "zoho",
        "data_centre": data_centre,
        "client_id": DEMO_CLIENT_ID,
        "client_secret": "${ZOHO_SIM_CLIENT_SECRET}",
        "refresh_token": "${ZOHO_SIM_REFRESH_TOKEN}",
    }
    return config | overrides


def demo_app() -> ASGIApp:
    """A simulator seeded with the LATAM demo territory, with Zoho's real limits."""
    return ZohoSimulator().app


def throttle_fault(times: int = 1) -> Fault:
    """Zoho's 429 for too many concurrent calls: no Retry-After, no credits header (§8.3)."""
    return Fault(status=429, body=THROTTLE_BODY, path_contains="/crm/", times=times)


def auth_fault(times: int = 1_000_000) -> Fault:
    """401 INVALID_TOKEN on every CRM call (§2.6)."""
    return Fault(status=401, body=INVALID_TOKEN_BODY, path_contains="/crm/", times=times)


def contract_harness() -> ContractHarness:
    """A seeded org for the contract suite: five deals per call, Zoho's throttle and refusal."""
    sim = ZohoSimulator()
    return ContractHarness(
        kind="zoho",
        app=sim.app,
        controls=sim.controls,
        config=connector_config(page_size=HARNESS_PAGE),
        env=dict(DEMO_ENV),
        secret=DEMO_REFRESH_TOKEN,
        throttle_fault=throttle_fault(),
        auth_fault=auth_fault(),
        seed_equal_timestamps=lambda n: _discard(sim.seed_equal_timestamps(n)),
        page_size=HARNESS_PAGE,
        extra={"simulator": sim},
    )


def _discard(_ids: list[str]) -> None:
    """The harness seeder returns nothing; the ids are the simulator's business."""


DEMO_CREDENTIALS = {
    "DEALBRIDGE_ZOHO_CLIENT_SECRET": DEMO_CLIENT_SECRET,
    "DEALBRIDGE_ZOHO_REFRESH_TOKEN": DEMO_REFRESH_TOKEN,
}
"""The variables the demo config's secret references read (demo credentials, not secrets)."""


def demo_simulator(fast: bool = False) -> ZohoSimulator:
    """The LATAM territory's org (``fast`` changes nothing here)."""
    del fast
    return ZohoSimulator()


__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_ENV",
    "DEMO_REFRESH_TOKEN",
    "ZohoSimulator",
    "auth_fault",
    "connector_config",
    "contract_harness",
    "demo_app",
    "throttle_fault",
]
