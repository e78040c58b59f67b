"""A registry entry states only what is its vendor's own: what follows from the simulator
module's conventions (``demo_app``, ``contract_harness``, ``demo_simulator``,
``DEMO_CREDENTIALS``) and from the demo's port (the loopback ``base_url``) is derived."""

from __future__ import annotations

import pytest

from connectors.registry import ConnectorSpec, DemoSpec, load_object, specs
from connectors.settings import ConnectorConfig

SIMULATOR = "connectors.service.acmedesk.simulator"


def _desk(demo: DemoSpec | None) -> ConnectorSpec:
    return ConnectorSpec.desk(
        "acmedesk", ConnectorConfig, lambda *_: object(), SIMULATOR, demo=demo
    )


def test_a_desk_is_played_by_its_simulator_modules_usual_names() -> None:
    spec = _desk(DemoSpec(port=8799))
    assert spec.role == "target"
    assert spec.simulator == f"{SIMULATOR}:demo_app"
    assert spec.contract_harness == f"{SIMULATOR}:contract_harness"
    assert spec.demo is not None
    assert spec.demo.simulator == f"{SIMULATOR}:demo_simulator"
    assert spec.demo.credentials == f"{SIMULATOR}:DEMO_CREDENTIALS"


def test_a_desk_without_a_demo_stays_out_of_the_demo_world() -> None:
    assert _desk(None).demo is None


def test_a_demo_that_names_its_own_simulator_or_credentials_keeps_them() -> None:
    demo = DemoSpec(simulator="elsewhere:seeded", credentials="elsewhere:SECRETS")
    played = _desk(demo).demo
    assert played is not None
    assert (played.simulator, played.credentials) == ("elsewhere:seeded", "elsewhere:SECRETS")


def test_a_source_declared_in_full_is_played_by_its_simulator_module() -> None:
    source = ConnectorSpec(
        kind="acmecrm",
        role="source",
        config_model=ConnectorConfig,
        factory=lambda *_: object(),
        demo=DemoSpec(),
    ).played_by("connectors.sales.acmecrm.simulator")
    assert source.role == "source"
    assert source.contract_harness == "connectors.sales.acmecrm.simulator:contract_harness"
    assert source.demo is not None
    assert source.demo.credentials == "connectors.sales.acmecrm.simulator:DEMO_CREDENTIALS"


def test_the_demo_section_adds_the_kind_and_the_loopback_url_of_its_port() -> None:
    served = DemoSpec(port=8799, connector={"api_key": "${DEALBRIDGE_ACME_KEY}"})
    assert served.section("acmedesk") == {
        "kind": "acmedesk",
        "base_url": "http://127.0.0.1:8799",
        "api_key": "${DEALBRIDGE_ACME_KEY}",
    }


def test_a_demo_section_that_names_its_own_url_keeps_it() -> None:
    remote = DemoSpec(connector={"base_url": "https://acme.example"})
    assert remote.section("acmecrm") == {"kind": "acmecrm", "base_url": "https://acme.example"}


@pytest.mark.parametrize(
    "spec", [s for s in specs() if s.demo is not None and s.demo.simulator], ids=lambda s: s.kind
)
def test_every_registered_demo_names_a_simulator_and_credentials_that_exist(
    spec: ConnectorSpec,
) -> None:
    assert spec.demo is not None
    assert spec.demo.simulator is not None
    assert spec.demo.credentials is not None
    assert callable(load_object(spec.demo.simulator))
    assert all(name.startswith("DEALBRIDGE_") for name in load_object(spec.demo.credentials))
