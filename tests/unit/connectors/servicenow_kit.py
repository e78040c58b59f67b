"""Shared helpers for the ServiceNow connector tests: a simulator and the connector wired to it.

The connector is built through the registry, as the engine builds it, with the simulator as
its transport and a sleep that moves the simulator's clock: when the connector waits (a
Retry-After, an hour's budget), the instance sees that time pass too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
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

BASE = DEMO_BASE_URL


def oauth() -> dict[str, Any]:
    return {
        "flow": "client_credentials",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": SecretStr(DEMO_CLIENT_SECRET),
    }


Wrap = Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport]


def connect(sim: ServiceNowSimulator, wrap: Wrap | None = None, **config: Any) -> ServiceNowTarget:
    """The connector as the registry builds it, talking to ``sim`` (through ``wrap`` of its
    transport, when given) and sleeping on its clock."""
    return connect_counting_sleeps(sim, wrap, **config)[0]


def connect_counting_sleeps(
    sim: ServiceNowSimulator, wrap: Wrap | None = None, **config: Any
) -> tuple[ServiceNowTarget, list[float]]:
    """``connect``, and the list every sleep of the connector is recorded in."""
    spec = get_spec("servicenow")
    settings: dict[str, Any] = {
        "kind": "servicenow",
        "base_url": BASE,
        "auth": oauth(),
        "external_id_fields": {"account": "u_customer_number", "consumer": "number"},
        **config,
    }
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        sim.pass_time(seconds)

    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=sim.app)
    options = ConnectorOptions(transport=wrap(transport) if wrap else transport, sleep=sleep)
    target = spec.factory("desk", spec.config_model.model_validate(settings), options)
    assert isinstance(target, ServiceNowTarget)
    return target, slept


def account(sim: ServiceNowSimulator, key: str) -> RecordRef:
    """The demo customer's account."""
    return RecordRef(kind="account", id=sim.customers[key][0])


def contact(sim: ServiceNowSimulator, key: str) -> RecordRef:
    """The demo customer's contact."""
    return RecordRef(kind="contact", id=sim.customers[key][1])


def change(ref: RecordRef, version: str | None = None, **fields: Any) -> RecordChange:
    """A change of ``fields`` on ``ref`` (planned on ``version`` when given)."""
    return RecordChange(ref=ref, fields=fields, expected_version=version)


def patched(sim: ServiceNowSimulator, sys_id: str) -> int:
    """Batch items and single PATCHes that reached one record."""
    direct = sum(1 for r in sim.controls.requests if r.method == "PATCH" and sys_id in r.path)
    return direct + sum(1 for path in sim.instance.item_log if sys_id in path)
