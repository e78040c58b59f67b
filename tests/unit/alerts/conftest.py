"""Fixtures for alert channel tests: the HTTP receiver and secrets given as ``${ENV}``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol, TypeVar

import pytest

from tests.unit.alerts.helpers import Receiver, serve


@pytest.fixture(scope="session")
def _running_receiver() -> Iterator[Receiver]:
    with serve(Receiver()) as receiver:
        yield receiver


@pytest.fixture
def receiver(_running_receiver: Receiver) -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 that records requests; reset for every test."""
    _running_receiver.reset()
    yield _running_receiver
    _running_receiver.reset()


@pytest.fixture
def env_secret(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], str]:
    """Put a secret in the environment and return its ``${NAME}`` reference for config."""

    def put(name: str, value: str) -> str:
        monkeypatch.setenv(name, value)
        return "${" + name + "}"

    return put


class _Closable(Protocol):
    async def aclose(self) -> None: ...


C = TypeVar("C", bound=_Closable)


@pytest.fixture
async def closing() -> AsyncIterator[Callable[[C], C]]:
    """Track channels a test opens and close them afterwards (no leaked sockets)."""
    opened: list[_Closable] = []

    def track(channel: C) -> C:
        opened.append(channel)
        return channel

    yield track
    for channel in opened:
        await channel.aclose()
