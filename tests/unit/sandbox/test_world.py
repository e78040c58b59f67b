"""The demo world is built from the connector registry: every registered desk with a demo can
be the target, every registered territory can join, and nothing outside a connector's folder
and its registry entry names a vendor."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.registry import demo_targets, get_spec, specs, system_label
from sandbox.world import (
    all_credentials,
    credentials,
    default_target,
    default_territories,
    territories,
    world_doc,
)


def test_every_registered_desk_with_a_simulator_is_a_demo_target() -> None:
    desks = {spec.kind for spec in specs("target") if spec.demo and spec.demo.simulator}
    assert set(demo_targets()) == desks
    assert default_target() in desks


def test_the_shipped_territories_come_first_and_every_source_with_a_demo_plays_one() -> None:
    assert default_territories() == ("west", "emea", "apac")
    played = {spec.kind for spec in specs("source") if spec.demo and spec.demo.territory}
    assert len(territories()) == len(played)
    assert set(default_territories()) <= set(territories())


@pytest.mark.parametrize("target", demo_targets())
def test_a_world_aims_every_job_at_its_desk_with_that_desks_mappings(
    tmp_path: Path, target: str
) -> None:
    doc = world_doc(tmp_path, target, jobs=[*territories()])
    assert set(doc["jobs"]) == set(territories())
    folder = get_spec(target).demo.mappings  # type: ignore[union-attr]
    for job in doc["jobs"].values():
        assert job["target"] == target
        assert Path(job["mapping"]).parent.name == (folder or "mappings")
        assert Path(job["mapping"]).is_file(), f"{target} has no mapping {job['mapping']}"
    desks = [name for name, c in doc["connectors"].items() if get_spec(c["kind"]).role == "target"]
    assert desks == [target], "only the desk in play is configured (and needs credentials)"


def test_credentials_cover_exactly_the_worlds_connectors() -> None:
    env = credentials(default_target())
    assert set(env) <= set(all_credentials())
    assert all(name.startswith("DEALBRIDGE_") for name in all_credentials())


def test_an_unknown_target_or_territory_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="target must be one of"):
        world_doc(tmp_path, "nodesk")
    with pytest.raises(ValueError, match="unknown territory atlantis; known:"):
        world_doc(tmp_path, jobs=["west", "atlantis"])


def test_agents_see_each_system_by_its_registered_label() -> None:
    assert system_label("hubspot") == "HubSpot"
    assert system_label("spreadsheet") == "Sheet"
    assert system_label("retired_crm") == "Retired_Crm"
