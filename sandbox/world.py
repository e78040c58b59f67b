"""The whole sandbox in one process: every simulator seeded with the demo world, the repo's
config.yaml pointed at them, and the credentials they accept.

``dealbridge demo`` and the end-to-end tests both start from :func:`build_world`, so the demo a
newcomer watches is the path the tests check.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sandbox.spreadsheet import write_demo_sheets
from sync_jobs.config.app import AppConfig, parse_config
from sync_jobs.config.yamlio import load_yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("zendesk", "freshdesk")


@dataclass(frozen=True)
class SimulatorKind:
    """How to start one vendor's simulator and which env vars its demo credentials fill."""

    module: str
    make: Callable[[Any, bool], Any]
    """Given the imported module (and whether budgets are lifted for tests), return a seeded
    simulator object with ``.app``."""
    env: Callable[[Any], dict[str, str]]
    """Given the imported module, the DEALBRIDGE_* variables config.yaml references."""


def _salesforce(module: Any, _fast: bool) -> Any:
    return module.SalesforceSimulator(seed=True)


def _salesforce_env(module: Any) -> dict[str, str]:
    return {
        "DEALBRIDGE_SF_CLIENT_SECRET": module.DEMO_CLIENT_SECRET,
        "DEALBRIDGE_SF_REFRESH_TOKEN": module.DEMO_REFRESH_TOKEN,
    }


def _zendesk(module: Any, fast: bool) -> Any:
    limits = {"incremental_per_minute": 6_000, "job_delay": 0.0} if fast else {}
    return module.ZendeskSimulator(**limits).seed_demo()


def _zendesk_env(module: Any) -> dict[str, str]:
    return {"DEALBRIDGE_ZENDESK_TOKEN": module.DEMO_API_TOKEN}


def _freshdesk(module: Any, fast: bool) -> Any:
    limits = {"requests_per_minute": 60_000, "contact_list_per_minute": 60_000} if fast else {}
    return module.FreshdeskSimulator(**limits).seed_demo()


SIMULATORS: dict[str, SimulatorKind] = {
    "salesforce": SimulatorKind(
        "connectors.sales.salesforce.simulator", _salesforce, _salesforce_env
    ),
    "hubspot": SimulatorKind(
        "connectors.sales.hubspot.simulator",
        lambda m, _fast: m.HubSpotSimulator(),
        lambda m: {"DEALBRIDGE_HUBSPOT_TOKEN": m.DEMO_ACCESS_TOKEN},
    ),
    "zendesk": SimulatorKind("connectors.service.zendesk.simulator", _zendesk, _zendesk_env),
    "freshdesk": SimulatorKind(
        "connectors.service.freshdesk.simulator",
        _freshdesk,
        lambda m: {"DEALBRIDGE_FRESHDESK_KEY": m.DEMO_API_KEY},
    ),
}


@dataclass
class SandboxWorld:
    """Running simulators plus the config and environment that point dealbridge at them."""

    folder: Path
    target: str
    config: AppConfig
    simulators: dict[str, Any] = field(default_factory=dict)
    """By connector name in config.yaml (``salesforce_west``, ``zendesk``...)."""
    env: dict[str, str] = field(default_factory=dict)

    def transports(self) -> dict[str, httpx.AsyncBaseTransport]:
        """Route each connector's HTTP to its simulator, in process."""
        return {name: httpx.ASGITransport(app=sim.app) for name, sim in self.simulators.items()}

    @property
    def desk(self) -> Any:
        """The service-desk simulator."""
        return self.simulators[self.target]

    @property
    def sheets(self) -> Path:
        """The APAC territory's spreadsheet folder."""
        return self.folder / "apac-sheets"


FAST_SETTINGS: dict[str, dict[str, Any]] = {
    "freshdesk": {"requests_per_minute": 60_000, "contact_list_per_minute": 60_000},
    "zendesk": {"incremental_per_minute": 6_000, "job_seconds": 0.01, "job_poll_initial": 0.01},
}
"""Connector settings that lift the vendors' budgets, for tests (the simulators match)."""


def world_doc(
    folder: Path,
    target: str = "zendesk",
    *,
    state_url: str | None = None,
    fast: bool = False,
    base_urls: dict[str, str] | None = None,
    mappings: Path | None = None,
) -> Any:
    """config.yaml as a document, with state and sheets in ``folder``, jobs aimed at ``target``
    and every relative path made absolute (so the document may be saved anywhere)."""
    doc = load_yaml(REPO_ROOT / "config.yaml")
    doc["state"]["url"] = state_url or f"sqlite:///{folder / 'state.db'}"
    doc["connectors"]["sheets_apac"]["path"] = str(folder / "apac-sheets")
    for other in TARGETS:
        if other != target:
            doc["connectors"].pop(other, None)  # only the desk in play needs credentials
    for name, section in doc["connectors"].items():
        if fast:  # tests: same behaviour, vendor budgets raised so runs need not wait
            section.update(FAST_SETTINGS.get(name, {}))
        if base_urls and name in base_urls:
            section["base_url"] = base_urls[name]
    for job in doc["jobs"].values():
        job["target"] = target
        mapping = Path(job["mapping"]).relative_to("mappings")
        if target != "zendesk":
            mapping = Path(target) / mapping
        job["mapping"] = str((mappings or REPO_ROOT / "mappings") / mapping)
    return doc


def world_config(
    folder: Path,
    target: str = "zendesk",
    *,
    state_url: str | None = None,
    fast: bool = False,
) -> AppConfig:
    """The repo's config.yaml with state and sheets in ``folder`` and jobs aimed at ``target``."""
    doc = world_doc(folder, target, state_url=state_url, fast=fast)
    return parse_config(doc, str(REPO_ROOT / "config.yaml"), REPO_ROOT)


def write_world_config(path: Path, folder: Path, target: str = "zendesk", **kw: Any) -> Path:
    """Save a world's config.yaml (for the daemon, which reads its config from a file)."""
    from ruamel.yaml import YAML

    with path.open("w", encoding="utf-8") as handle:
        YAML().dump(world_doc(folder, target, **kw), handle)
    return path


def _kinds(target: str) -> dict[str, str]:
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}")
    return {"salesforce_west": "salesforce", "hubspot_emea": "hubspot", target: target}


def credentials(target: str = "zendesk") -> dict[str, str]:
    """The DEALBRIDGE_* variables config.yaml needs to reach this sandbox (demo credentials)."""
    env: dict[str, str] = {}
    for kind in _kinds(target).values():
        spec = SIMULATORS[kind]
        env |= spec.env(importlib.import_module(spec.module))
    return env


def all_credentials() -> dict[str, str]:
    """Every DEALBRIDGE_* variable the shipped config.yaml references (both desks)."""
    return credentials("zendesk") | credentials("freshdesk")


def build_world(
    folder: Path, target: str = "zendesk", *, state_url: str | None = None, fast: bool = False
) -> SandboxWorld:
    """Seed every simulator the jobs need, write the APAC sheets, and load the config.

    The sandbox credentials must be in the environment first (see :func:`credentials`),
    because the config's secret references are resolved while it is validated.
    """
    folder.mkdir(parents=True, exist_ok=True)
    write_demo_sheets(folder / "apac-sheets")
    simulators: dict[str, Any] = {}
    for name, kind in _kinds(target).items():
        spec = SIMULATORS[kind]
        simulators[name] = spec.make(importlib.import_module(spec.module), fast)
    config = world_config(folder, target, state_url=state_url, fast=fast)
    return SandboxWorld(
        folder=folder, target=target, config=config, simulators=simulators, env=credentials(target)
    )
