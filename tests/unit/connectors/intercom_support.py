"""Shared pieces of the Intercom tests: fixtures, the simulator behind a spec check, targets.

:class:`SpecChecked` sits between the connector and the simulator and checks every request
body the connector sends and every body the simulator answers against Intercom's OpenAPI
description (tests/fixtures/intercom, MIT), through ``tests/docfakes/intercom_openapi.py``.
One documented relaxation (FACTS.md §10.1): the description types company
``custom_attributes`` values as strings while its own request and response examples carry
numbers and booleans; a number or boolean there is accepted, in both directions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.service.intercom import IntercomConfig, IntercomTarget
from connectors.service.intercom.simulator import DEMO_TOKEN, IntercomSimulator
from connectors.settings import ConnectorOptions
from sandbox.controls import ASGIApp, Message, Receive, Scope, Send
from tests.docfakes.intercom_openapi import intercom_spec

BASE = "https://api.intercom.io"
TOKEN_ENV = "INTERCOM_UNIT_TOKEN"
FIXTURES = Path(__file__).parents[2] / "fixtures" / "intercom"


def example(name: str, status: int = 200) -> Any:
    """The first response example for ``status`` in a fixture (tests/fixtures/intercom)."""
    raw = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return next(iter(raw["responses"][str(status)].values()))


class Sleeps:
    """Fake sleep: records every wait and returns at once (moving a simulator's time along,
    when given one, so both sides of a wait agree that it happened)."""

    def __init__(self, on_sleep: Callable[[float], None] | None = None) -> None:
        self.calls: list[float] = []
        self._on_sleep = on_sleep

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self._on_sleep is not None:
            self._on_sleep(seconds)


def _relaxed(problem: str) -> bool:
    """FACTS.md §10.1: non-string company custom attribute values are what Intercom sends."""
    where, _, message = problem.partition(": ")
    return "custom_attributes/" in where and "is not of type 'string'" in message


@dataclass
class SpecChecked:
    """An ASGI app in front of ``app`` that validates both directions against the spec."""

    app: ASGIApp
    problems: list[str] = field(default_factory=list)
    checked: int = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self._check_request(method, path, body)
        sent: list[Message] = []

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            sent.append(message)
            await send(message)

        await self.app(scope, replay, capture)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        self._check_response(method, path, status, payload)

    def _check_request(self, method: str, path: str, body: bytes) -> None:
        if method not in ("POST", "PUT") or not body:
            return
        try:
            problems = intercom_spec().request_errors(method, path, json.loads(body))
        except LookupError as exc:
            problems = [str(exc)]
        self.problems += [f"request {method} {path}: {p}" for p in problems if not _relaxed(p)]

    def _check_response(self, method: str, path: str, status: int, payload: bytes) -> None:
        self.checked += 1
        try:
            decoded = json.loads(payload)
        except ValueError:
            self.problems.append(f"response {method} {path} {status}: not JSON")
            return
        try:
            problems = intercom_spec().response_errors(method, path, status, decoded)
        except LookupError as exc:
            problems = [str(exc)]
        self.problems += [
            f"response {method} {path} {status}: {p}" for p in problems if not _relaxed(p)
        ]


@dataclass
class Desk:
    """A simulator, its spec check, and a way to build targets against it."""

    sim: IntercomSimulator
    checked: SpecChecked
    sleeps: Sleeps = field(default_factory=Sleeps)
    clock: list[float] = field(default_factory=lambda: [1_800_000_000.0])

    def target(
        self,
        wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
        **config: Any,
    ) -> IntercomTarget:
        """A target with ``config`` over the defaults (the token from the environment),
        talking through ``wrap`` of its transport when given."""
        raw = {"kind": "intercom", "base_url": BASE, "access_token": "${" + TOKEN_ENV + "}"}
        transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=self.checked)
        options = ConnectorOptions(
            transport=wrap(transport) if wrap else transport, sleep=self.sleeps
        )
        return IntercomTarget(
            "intercom", IntercomConfig.model_validate(raw | config), options, wall_clock=self.now
        )

    def now(self) -> float:
        """Our wall clock as the connector reads it (moved by tests)."""
        return self.clock[0]

    def assert_spec_clean(self) -> None:
        """Every body seen so far fits the description."""
        assert self.checked.checked > 0, "no request reached the simulator"
        assert self.checked.problems == [], self.checked.problems


def desk(**sim: Any) -> Desk:
    """A demo-seeded simulator behind the spec check."""
    simulator = IntercomSimulator(**sim).seed_demo()
    return Desk(simulator, SpecChecked(simulator.app), Sleeps(simulator.pass_time))


@pytest.fixture(autouse=True)
def intercom_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token reaches config as ``${INTERCOM_UNIT_TOKEN}``, as an admin would write it."""
    monkeypatch.setenv(TOKEN_ENV, DEMO_TOKEN)


__all__ = [
    "BASE",
    "DEMO_TOKEN",
    "TOKEN_ENV",
    "Desk",
    "Sleeps",
    "SpecChecked",
    "desk",
    "example",
    "intercom_token",
]
