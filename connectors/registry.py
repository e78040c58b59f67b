"""Connector kinds by name: built-ins, plus plugins from the ``dealbridge.connectors`` entry points.

Built-ins are listed as import paths so that loading config does not import every vendor.
A kind's module exposes ``CONNECTOR: ConnectorSpec``.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
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
    webhook: str | None = None
    """``module:attribute`` naming a :class:`connectors.webhooks.Verifier` for the vendor's change
    notifications (None: polling only); see docs/webhooks.md."""

    @classmethod
    def desk(
        cls,
        kind: str,
        config_model: type[ConnectorConfig],
        factory: Callable[[str, Any, ConnectorOptions], Any],
        simulated_by: str,
        webhook: str | None = None,
    ) -> ConnectorSpec:
        """A service-desk target whose simulator module ``simulated_by`` offers the usual
        ``demo_app`` and ``contract_harness``; ``webhook`` as in the spec's field."""
        return cls(
            kind=kind,
            role="target",
            config_model=config_model,
            factory=factory,
            simulator=f"{simulated_by}:demo_app",
            contract_harness=f"{simulated_by}:contract_harness",
            webhook=webhook,
        )


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


def load_object(reference: str) -> Any:
    """The object a ``module:attribute`` reference names (simulators, harnesses)."""
    module_name, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module_name), attribute)
