"""Connector kinds by name: built-ins, plus plugins from the ``dealbridge.connectors`` entry points.

Built-ins are listed as import paths so that loading config does not import every vendor.
A kind's module exposes ``CONNECTOR: ConnectorSpec``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Literal

from connectors.settings import ConnectorConfig, ConnectorOptions

Role = Literal["source", "target"]

BUILTIN: dict[str, str] = {
    "salesforce": "connectors.sales.salesforce",
    "hubspot": "connectors.sales.hubspot",
    "spreadsheet": "connectors.sales.spreadsheet",
    "pipedrive": "connectors.sales.pipedrive",
    "dynamics": "connectors.sales.dynamics",
    "zoho": "connectors.sales.zoho",
    "zendesk": "connectors.service.zendesk",
    "freshdesk": "connectors.service.freshdesk",
    "servicenow": "connectors.service.servicenow",
    "servicecloud": "connectors.service.servicecloud",
    "intercom": "connectors.service.intercom",
}
"""Built-in kinds; a kind whose package is not present (yet) is left out of ``known_kinds``."""


@dataclass(frozen=True)
class SelectForm:
    """How a source's mappings write ``select``: its language, an example, and a check.

    ``dealbridge validate`` (and every run, before any request) asks ``check`` about the
    mapping's select; a problem is reported at the select's line with ``language`` and
    ``example``, so an admin who copied another source's form sees this source's."""

    language: str
    """What the select is, e.g. "a SOQL condition (the part after WHERE)"."""
    example: str
    """One mapping line that works, e.g. ``select: "Has_Special_Terms__c = true"``."""
    check: Callable[[str], str | None]
    """What is wrong with a select (None: fine), without making a request."""


@dataclass(frozen=True)
class DemoTerritory:
    """A territory the demo world runs from this source: one job and its mapping."""

    job: str
    """The job's name in config.yaml (``west``)."""
    connector: str
    """The connector's name in config.yaml (``salesforce_west``)."""
    territory: str
    """The territory label on the customer's note (``West``)."""
    mapping: str
    """The mapping's file name (``west-salesforce.yaml``), under ``mappings/`` and, for a
    target other than the default one, under its ``DemoSpec.mappings`` folder."""


@dataclass(frozen=True)
class DemoSpec:
    """How the sandbox plays this kind: the seeded simulator, the demo credentials and the
    connector section that points dealbridge at it (``dealbridge demo``, ``sandbox serve``,
    the end-to-end tests)."""

    simulator: str | None = None
    """``module:function`` taking ``fast: bool`` (vendor budgets lifted for tests) and returning
    a simulator seeded with the demo world, with ``.app`` and ``.controls``; None: no HTTP
    (the spreadsheet). ``ConnectorSpec.played_by`` (so ``.desk`` too) names the simulator
    module's ``demo_simulator`` where this is not said."""
    credentials: str | None = None
    """``module:attribute``: the ``{DEALBRIDGE_* variable: demo credential}`` mapping the
    connector section's ``${...}`` references resolve against. ``ConnectorSpec.played_by``
    names the simulator module's ``DEMO_CREDENTIALS`` where this is not said."""
    connector: Mapping[str, Any] = field(default_factory=dict)
    """The connector's config.yaml settings (secrets as ``${DEALBRIDGE_*}``), used when the
    shipped config.yaml has no section for this kind; ``kind`` and, for a served kind, ``base_url``
    need not be said: :meth:`section` adds them."""
    fast: Mapping[str, Any] = field(default_factory=dict)
    """Connector settings that lift the vendor's budgets for tests (the simulator matches)."""
    port: int | None = None
    """Its ``sandbox serve`` port at the default base port (None: not served)."""
    territory: DemoTerritory | None = None
    """Sources: the territory the demo world can run from it."""
    mappings: str | None = None
    """Targets: the folder under ``mappings/`` holding the territories' mappings for this desk
    (``""``: the top-level files)."""
    prepare: str | None = None
    """``module:function(folder: Path, *, write: bool) -> dict``: the connector settings that
    point at local demo data under ``folder`` (the APAC sheets), written first with ``write``."""

    def played_by(self, simulated_by: str) -> DemoSpec:
        """This demo, with the simulator module's usual ``demo_simulator`` and
        ``DEMO_CREDENTIALS`` where it names none of its own."""
        return replace(
            self,
            simulator=self.simulator or f"{simulated_by}:demo_simulator",
            credentials=self.credentials or f"{simulated_by}:DEMO_CREDENTIALS",
        )

    def section(self, kind: str) -> dict[str, Any]:
        """The config.yaml section reaching this demo's simulator: ``connector`` with the kind
        and, for a served kind, the loopback URL ``sandbox serve`` gives it at the default base
        port (in process any host reaches the simulator)."""
        derived: dict[str, Any] = {"kind": kind}
        if self.port is not None:
            derived["base_url"] = f"http://127.0.0.1:{self.port}"
        return derived | dict(self.connector)


@dataclass(frozen=True)
class ConnectorSpec:
    """How to configure and build one connector kind, and which simulator plays its vendor."""

    kind: str
    role: Role
    config_model: type[ConnectorConfig]
    factory: Callable[[str, Any, ConnectorOptions], Any]
    """``factory(name, config, options)`` returns a SalesSource or ServiceTarget."""
    simulator: str | None = None
    """``module:function`` returning an ASGI app that plays the vendor, for demo and tests."""
    contract_harness: str | None = None
    """``module:function`` returning a seeded ``sandbox.harness.ContractHarness``: the shared
    contract suite (tests/contract) runs every registered kind that names one."""
    select: SelectForm | None = None
    """Sources: the form of a mapping's ``select`` (None: this source takes no select)."""
    label: str = ""
    """How agents know the system, on the customer's note (``HubSpot``); empty: the kind."""
    bulk_write: str | None = None
    """Targets: the vendor's bulk endpoint writes go through (None: one request a record)."""
    webhook: str | None = None
    """``module:attribute`` naming a :class:`connectors.webhooks.Verifier` for the vendor's change
    notifications (None: polling only); see docs/webhooks.md."""
    demo: DemoSpec | None = None
    """How the sandbox plays it (None: not in the demo world)."""

    def played_by(self, simulated_by: str) -> ConnectorSpec:
        """This spec as the simulator module ``simulated_by`` plays it: that module offers the
        usual ``demo_app`` and ``contract_harness`` and, for the demo, ``demo_simulator`` and
        ``DEMO_CREDENTIALS`` (see :meth:`DemoSpec.played_by`)."""
        return replace(
            self,
            simulator=f"{simulated_by}:demo_app",
            contract_harness=f"{simulated_by}:contract_harness",
            demo=None if self.demo is None else self.demo.played_by(simulated_by),
        )

    @classmethod
    def desk(  # noqa: PLR0913 - the spec's fields a desk names
        cls,
        kind: str,
        config_model: type[ConnectorConfig],
        factory: Callable[[str, Any, ConnectorOptions], Any],
        simulated_by: str,
        webhook: str | None = None,
        *,
        label: str = "",
        bulk_write: str | None = None,
        demo: DemoSpec | None = None,
    ) -> ConnectorSpec:
        """A service-desk target :meth:`played_by` the simulator module ``simulated_by``; the
        other arguments as in the spec's fields (``factory`` is usually the target class, built
        from (name, config, options)). A source is declared in full and then ``played_by``."""
        return cls(
            kind=kind,
            role="target",
            config_model=config_model,
            factory=factory,
            webhook=webhook,
            label=label,
            bulk_write=bulk_write,
            demo=demo,
        ).played_by(simulated_by)


class UnknownConnectorKind(LookupError):
    """Raised with the list of known kinds, so a typo is easy to fix."""


def _plugin_modules() -> dict[str, str]:
    found: dict[str, str] = {}
    for ep in entry_points(group="dealbridge.connectors"):
        if ep.name in BUILTIN or ep.name in found:
            raise ValueError(f"connector kind {ep.name!r} is registered twice")
        found[ep.name] = ep.value
    return found


def _present(module_name: str) -> bool:
    """A real module, not a folder that only holds a kind's FACTS.md (a namespace package)."""
    spec = importlib.util.find_spec(module_name)
    return spec is not None and spec.origin is not None


def origin(kind: str) -> str:
    """``built-in`` or ``plugin`` (a ``dealbridge.connectors`` entry point)."""
    return "built-in" if kind in BUILTIN else "plugin"


def known_kinds() -> list[str]:
    """Every kind that config.yaml may name."""
    available = [k for k in BUILTIN if _present(BUILTIN[k])]
    return sorted({*available, *_plugin_modules()})


def get_spec(kind: str) -> ConnectorSpec:
    """Load the spec for ``kind`` or explain which kinds exist."""
    module_name = BUILTIN.get(kind) or _plugin_modules().get(kind)
    if module_name is None or not _present(module_name.split(":")[0]):
        raise UnknownConnectorKind(
            f"unknown connector kind {kind!r}; known: {', '.join(known_kinds())}"
        )
    module = importlib.import_module(module_name.split(":")[0])
    spec: ConnectorSpec = module.CONNECTOR
    return spec


def specs(role: Role | None = None) -> list[ConnectorSpec]:
    """Every registered kind's spec (of one role), in the order of ``known_kinds``."""
    found = [get_spec(kind) for kind in known_kinds()]
    return [spec for spec in found if role is None or spec.role == role]


def demo_targets() -> list[str]:
    """The desks the demo world can run into (targets with a demo)."""
    return [spec.kind for spec in specs("target") if spec.demo is not None]


@cache
def system_label(kind: str) -> str:
    """How agents know a system: the kind's ``label`` (``hubspot`` -> ``HubSpot``); a kind
    that is not registered (a store written by another version) is shown title-cased."""
    try:
        spec = get_spec(kind)
    except UnknownConnectorKind:
        return kind.title()
    return spec.label or kind.title()


def load_object(reference: str) -> Any:
    """The object a ``module:attribute`` reference names (simulators, harnesses)."""
    module_name, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
