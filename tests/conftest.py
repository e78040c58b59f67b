"""Shared fixtures: the asyncio backend for anyio tests, and a clean, secret-free environment;
Hypothesis without its per-example deadline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from hypothesis import settings

# Hypothesis fails an example that takes over 200 ms by default: a timing assertion, which this
# project keeps out of its tests (speed is measured in bench/). On a loaded CI machine it made
# property tests fail now and then for no fault of the code (tests/unit/connectors/test_paging.py).
settings.register_profile("dealbridge", deadline=None)
settings.load_profile("dealbridge")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio (the daemon's loop)."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxy variables from the machine must not reroute simulator traffic."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    """A test that runs the CLI configures structlog; the next test starts from defaults."""
    yield
    structlog.reset_defaults()
