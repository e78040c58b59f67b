"""The whole sandbox in one process: every simulator seeded with the demo world, the repo's
config.yaml pointed at them, and the credentials they accept.

``dealbridge demo`` and the end-to-end tests both start from :func:`build_world`, so the demo a
newcomer watches is the path the tests check.

Which vendors exist is the registry's business (:mod:`connectors.registry`): each kind's
``demo`` entry names its seeded simulator, its demo credentials, the connector section that
reaches it (when the shipped config.yaml has none), the settings that lift its budgets for
tests and, for a source, the territory it plays. The world is the shipped config.yaml's three
territories aimed at one desk, plus any other registered territory asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from connectors.registry import (
    ConnectorSpec,
    DemoSpec,
    DemoTerritory,
    demo_targets,
    get_spec,
    load_object,
    specs,
)
from sync_jobs.config.app import AppConfig, parse_config
from sync_jobs.config.yamlio import load_yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = REPO_ROOT / "config.yaml"
SCHEDULE = {"every": "5m"}
"""The schedule of a territory the shipped config does not list (the daemon needs one)."""


@cache
def _shipped() -> Any:
    return load_yaml(SHIPPED_CONFIG)


def default_target() -> str:
    """The desk the shipped config.yaml's jobs write to."""
    return str(next(iter(_shipped()["jobs"].values()))["target"])


def default_territories() -> tuple[str, ...]:
    """The shipped config.yaml's jobs: the three territories of the demo."""
    return tuple(_shipped()["jobs"])


def territories() -> dict[str, DemoTerritory]:
    """Every territory a registered source can play, by job name (``west``, ``nordics``...)."""
    found: dict[str, DemoTerritory] = {}
    for spec in specs("source"):
        if spec.demo is not None and spec.demo.territory is not None:
            found[spec.demo.territory.job] = spec.demo.territory
    return found


def _demo(kind: str) -> DemoSpec:
    demo = get_spec(kind).demo
    if demo is None:
        raise ValueError(f"{kind} has no demo simulator")
    return demo


def simulator(kind: str, *, fast: bool = False) -> Any:
    """A simulator of ``kind`` seeded with the demo world (``fast``: budgets lifted)."""
    demo = _demo(kind)
    if demo.simulator is None:
        raise ValueError(f"{kind} has no simulator")
    return load_object(demo.simulator)(fast)


def _check(target: str, jobs: Sequence[str]) -> None:
    if target not in demo_targets():
        raise ValueError(f"target must be one of {', '.join(demo_targets())}")
    known = {*default_territories(), *territories()}
    if unknown := [job for job in jobs if job not in known]:
        raise ValueError(
            f"unknown territory {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def _connectors(target: str, jobs: Sequence[str]) -> dict[str, str]:
    """Connector name -> kind, for the desk and every job's source."""
    shipped = _shipped()
    kinds = {target: target}
    for job in jobs:
        if job in shipped["jobs"]:
            source = shipped["jobs"][job]["source"]
            kinds[source] = shipped["connectors"][source]["kind"]
        else:
            territory = territories()[job]
            kinds[territory.connector] = _kind_of(territory)
    return kinds


def _kind_of(territory: DemoTerritory) -> str:
    return next(
        spec.kind
        for spec in specs("source")
        if spec.demo is not None and spec.demo.territory == territory
    )


def _section(name: str, kind: str, folder: Path, *, fast: bool) -> dict[str, Any]:
    """The connector's config section: the shipped one, else the registry's demo one."""
    shipped = _shipped()["connectors"].get(name)
    demo = _demo(kind)
    section = dict(shipped) if shipped is not None else demo.section(kind)
    if demo.prepare is not None:
        section.update(load_object(demo.prepare)(folder, write=False))
    if fast:  # tests: same behaviour, vendor budgets raised so runs need not wait
        section.update(demo.fast)
    return section


def _job(job: str, target: str) -> dict[str, Any]:
    shipped = _shipped()["jobs"].get(job)
    if shipped is not None:
        return dict(shipped) | {"target": target}
    territory = territories()[job]
    return {
        "source": territory.connector,
        "target": target,
        "mapping": f"mappings/{territory.mapping}",
        "territory": territory.territory,
        "schedule": dict(SCHEDULE),
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


def world_doc(
    folder: Path,
    target: str | None = None,
    *,
    jobs: Sequence[str] | None = None,
    state_url: str | None = None,
    fast: bool = False,
    base_urls: dict[str, str] | None = None,
    mappings: Path | None = None,
) -> Any:
    """config.yaml as a document, with state and local data in ``folder``, the ``jobs``
    (territories; default: the shipped three) aimed at ``target`` and every relative path made
    absolute (so the document may be saved anywhere)."""
    target = target or default_target()
    jobs = tuple(jobs or default_territories())
    _check(target, jobs)
    doc = load_yaml(SHIPPED_CONFIG)
    doc["state"]["url"] = state_url or f"sqlite:///{folder / 'state.db'}"
    # only the desk in play and the sources of the jobs run need credentials
    doc["connectors"] = {
        name: _section(name, kind, folder, fast=fast)
        for name, kind in _connectors(target, jobs).items()
    }
    for name, section in doc["connectors"].items():
        if base_urls and name in base_urls:
            section["base_url"] = base_urls[name]
    folder_of_target = _demo(target).mappings or ""
    doc["jobs"] = {job: _job(job, target) for job in jobs}
    for job in doc["jobs"].values():
        mapping = Path(folder_of_target) / Path(job["mapping"]).relative_to("mappings")
        job["mapping"] = str((mappings or REPO_ROOT / "mappings") / mapping)
    return doc


def world_config(
    folder: Path,
    target: str | None = None,
    *,
    jobs: Sequence[str] | None = None,
    state_url: str | None = None,
    fast: bool = False,
) -> AppConfig:
    """The repo's config.yaml with state and local data in ``folder``, aimed at ``target``."""
    doc = world_doc(folder, target, jobs=jobs, state_url=state_url, fast=fast)
    return parse_config(doc, str(SHIPPED_CONFIG), REPO_ROOT)


def write_world_config(path: Path, folder: Path, target: str | None = None, **kw: Any) -> Path:
    """Save a world's config.yaml (for the daemon, which reads its config from a file)."""
    from ruamel.yaml import YAML

    with path.open("w", encoding="utf-8") as handle:
        YAML().dump(world_doc(folder, target, **kw), handle)
    return path


def _credentials_of(kinds: Iterable[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for kind in kinds:
        demo = _demo(kind)
        if demo.credentials is not None:
            env |= dict(load_object(demo.credentials))
    return env


def credentials(target: str | None = None, jobs: Sequence[str] | None = None) -> dict[str, str]:
    """The DEALBRIDGE_* variables the world's config needs to reach this sandbox (demo
    credentials, not secrets)."""
    target = target or default_target()
    jobs = tuple(jobs or default_territories())
    _check(target, jobs)
    return _credentials_of(set(_connectors(target, jobs).values()))


def all_credentials() -> dict[str, str]:
    """Every DEALBRIDGE_* variable any registered demo kind references (the shipped
    config.yaml's among them)."""
    return _credentials_of(spec.kind for spec in specs() if spec.demo is not None)


def demo_specs() -> list[ConnectorSpec]:
    """Every registered kind with a demo simulator (``sandbox serve``)."""
    return [spec for spec in specs() if spec.demo is not None and spec.demo.simulator]


def build_world(
    folder: Path,
    target: str | None = None,
    *,
    jobs: Sequence[str] | None = None,
    state_url: str | None = None,
    fast: bool = False,
) -> SandboxWorld:
    """Seed every simulator the jobs need, write their local data, and load the config.

    The sandbox credentials must be in the environment first (see :func:`credentials`),
    because the config's secret references are resolved while it is validated.
    """
    target = target or default_target()
    jobs = tuple(jobs or default_territories())
    _check(target, jobs)
    folder.mkdir(parents=True, exist_ok=True)
    simulators: dict[str, Any] = {}
    for name, kind in _connectors(target, jobs).items():
        demo = _demo(kind)
        if demo.prepare is not None:
            load_object(demo.prepare)(folder, write=True)
        if demo.simulator is not None:
            simulators[name] = simulator(kind, fast=fast)
    config = world_config(folder, target, jobs=jobs, state_url=state_url, fast=fast)
    return SandboxWorld(
        folder=folder,
        target=target,
        config=config,
        simulators=simulators,
        env=credentials(target, jobs),
    )
