"""A Pipedrive company simulator (Starlette) for the demo, the tests and the benchmarks.

Endpoints (FACTS.md sections in each module): ``POST /oauth/token``; ``GET /api/v2/deals``,
``/api/v2/deals/archived``, ``/api/v2/deals/{id}``, ``/api/v2/organizations``,
``/api/v2/persons``, ``/api/v2/{deal,organization,person}Fields``; ``GET /v1/users`` (and
``/api/v1/users``); the removed v1 deal/person/organization lists answer 410. Limits, auth and
timing are knobs on :class:`PipedriveSimulator`; faults and latency come from its
:class:`~sandbox.controls.SimControls`.
"""

from __future__ import annotations

from connectors.sales.pipedrive.simulator import bodies
from connectors.sales.pipedrive.simulator.simulator import (
    DEMO_API_TOKEN,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REFRESH_TOKEN,
    SANDBOX_URL,
    PipedriveSimulator,
)
from sandbox.controls import ASGIApp, Fault
from sandbox.harness import ContractHarness

TOKEN_ENV = "PIPEDRIVE_DEMO_TOKEN"  # noqa: S105 - the variable's name, not a secret


def demo_app() -> ASGIApp:
    """A simulator seeded with the demo territory (Nordics), with Pipedrive's real limits."""
    return PipedriveSimulator().app


def throttle_fault(times: int = 1) -> Fault:
    """The burst window's 429: Retry-After and an empty window (FACTS.md §7.4-7.5)."""
    headers = {
        "Retry-After": "2",
        "x-ratelimit-limit": "20",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "2",
    }
    body = {
        "success": False,
        "error": bodies.OVER_LIMIT,
        "errorCode": 429,
        "error_info": bodies.ERROR_INFO,
        "data": None,
        "additional_data": None,
    }
    return Fault(status=429, body=body, path_contains="/api/v2/", headers=headers, times=times)


def auth_fault(times: int = 1_000_000) -> Fault:
    """401 for an API token Pipedrive does not know, on every API call (FACTS.md §2.4)."""
    body = {"success": False, "error": "unauthorized access", "errorCode": 401}
    return Fault(status=401, body=body, path_contains="/api/", times=times)


def contract_harness() -> ContractHarness:
    """A seeded simulator without the burst window (the suite's sleeps do not move its clock)."""
    sim = PipedriveSimulator(burst=False)
    page_size = 5
    config = {
        "kind": "pipedrive",
        "base_url": SANDBOX_URL,
        "auth": {"flow": "api_token", "api_token": "${" + TOKEN_ENV + "}"},
        "page_size": page_size,
    }
    return ContractHarness(
        kind="pipedrive",
        app=sim.app,
        controls=sim.controls,
        config=config,
        env={TOKEN_ENV: DEMO_API_TOKEN},
        secret=DEMO_API_TOKEN,
        throttle_fault=throttle_fault(),
        auth_fault=auth_fault(),
        seed_equal_timestamps=lambda n: _discard(sim.seed_equal_timestamps(n)),
        page_size=page_size,
        extra={"simulator": sim},
    )


def _discard(_: object) -> None:
    """The harness wants a callable returning None; the seeding helper returns the new ids."""


DEMO_CREDENTIALS = {"DEALBRIDGE_PIPEDRIVE_TOKEN": DEMO_API_TOKEN}
"""The variables the demo config's secret references read (demo credentials, not secrets)."""


def demo_simulator(fast: bool = False) -> PipedriveSimulator:
    """The Nordics territory's company; ``fast`` turns off the 2-second burst window."""
    return PipedriveSimulator(burst=not fast)


__all__ = [
    "DEMO_API_TOKEN",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_REFRESH_TOKEN",
    "SANDBOX_URL",
    "TOKEN_ENV",
    "PipedriveSimulator",
    "auth_fault",
    "contract_harness",
    "demo_app",
    "throttle_fault",
]
