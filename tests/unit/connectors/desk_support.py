"""A registered desk target wired to its seeded simulator (from the kind's contract harness),
for the alert-ticket tests."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.registry import get_spec, load_object
from connectors.settings import ConnectorOptions
from sandbox.harness import ContractHarness


async def _no_sleep(_seconds: float) -> None:
    return None


def desk_target(kind: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """``(simulator, target)`` for ``kind``; close the target when done."""
    reference = get_spec(kind).contract_harness
    assert reference is not None, f"{kind} names no contract harness"
    harness: ContractHarness = load_object(reference)()
    for name, value in harness.env.items():
        monkeypatch.setenv(name, value)
    spec = get_spec(kind)
    config = spec.config_model.model_validate(harness.config)
    sim = harness.extra["simulator"]
    options = ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=_no_sleep)
    return sim, spec.factory(kind, config, options)
