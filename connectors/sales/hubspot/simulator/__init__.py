"""A HubSpot account simulator (Starlette) for the demo, the tests and the benchmarks.

Endpoints: ``POST /oauth/v1/token`` (and ``/oauth/v3/token``), ``POST
/crm/v3/objects/deals/search``, ``GET /crm/v3/objects/{type}`` (``archived=true`` too), ``POST
/crm/v3/objects/{type}/batch/read``, ``POST /crm/v4/associations/{from}/{to}/batch/read``,
``GET /crm/v3/properties/{type}``, ``GET /crm/v3/owners``. Limits are knobs on
:class:`HubSpotSimulator` (search cap, search rate, 10-second window, daily budget, token
lifetime); faults and latency come from its :class:`~sandbox.controls.SimControls`.
"""

from __future__ import annotations

from connectors.sales.hubspot.simulator.bodies import auth_body, rate_limit_body
from connectors.sales.hubspot.simulator.simulator import (
    DEMO_ACCESS_TOKEN,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REFRESH_TOKEN,
    HubSpotSimulator,
)
from sandbox.controls import ASGIApp, Fault
from sandbox.harness import ContractHarness

TOKEN_ENV = "HUBSPOT_DEMO_TOKEN"  # noqa: S105 - the variable name, not a secret
SANDBOX_URL = "http://hubspot.sandbox"


def demo_app() -> ASGIApp:
    """A simulator seeded with the demo territory (EMEA), with HubSpot's real limits."""
    return HubSpotSimulator().app


def throttle_fault(times: int = 1) -> Fault:
    """HubSpot's 10-second-window 429, with the headers a non-search call carries."""
    headers = {
        "X-HubSpot-RateLimit-Max": "190",
        "X-HubSpot-RateLimit-Remaining": "0",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    }
    body = rate_limit_body("TEN_SECONDLY_ROLLING")
    return Fault(status=429, body=body, path_contains="/crm/", headers=headers, times=times)


def auth_fault(times: int = 1_000_000) -> Fault:
    """HubSpot's 401 for a token it does not know, on every CRM call."""
    return Fault(status=401, body=auth_body(), path_contains="/crm/", times=times)


def contract_harness() -> ContractHarness:
    """A seeded simulator (no search-rate or window throttling, so fake sleeps suffice)."""
    sim = HubSpotSimulator(search_per_second=None, ten_second_limit=None)
    page_size = 5
    config = {
        "kind": "hubspot",
        "base_url": SANDBOX_URL,
        "access_token": "${" + TOKEN_ENV + "}",
        "page_size": page_size,
    }
    return ContractHarness(
        kind="hubspot",
        app=sim.app,
        controls=sim.controls,
        config=config,
        env={TOKEN_ENV: DEMO_ACCESS_TOKEN},
        secret=DEMO_ACCESS_TOKEN,
        throttle_fault=throttle_fault(),
        auth_fault=auth_fault(),
        seed_equal_timestamps=lambda n: _discard(sim.seed_equal_timestamps(n)),
        page_size=page_size,
        extra={"simulator": sim},
    )


def _discard(_: object) -> None:
    """The harness wants a callable returning None; the seeding helper returns the new ids."""


__all__ = [
    "DEMO_ACCESS_TOKEN",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_REFRESH_TOKEN",
    "HubSpotSimulator",
    "auth_fault",
    "contract_harness",
    "demo_app",
    "throttle_fault",
]


DEMO_CREDENTIALS = {"DEALBRIDGE_HUBSPOT_TOKEN": DEMO_ACCESS_TOKEN}
"""The variables the demo config's secret references read (demo credentials, not secrets)."""


def demo_simulator(fast: bool = False) -> HubSpotSimulator:
    """The EMEA territory's account as the demo world seeds it (``fast`` changes nothing)."""
    del fast
    return HubSpotSimulator()
