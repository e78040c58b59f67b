"""A dealbridge process runs on uvloop unless told otherwise, and a wrong choice is refused
with a message that names the setting and what it accepts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import uvloop
from typer.testing import CliRunner

from sandbox.world import credentials, write_world_config
from sync_jobs.app import event_loop
from sync_jobs.app.cli import app


async def _loop_type() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_runs_on_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(event_loop.ENV, raising=False)
    assert event_loop.run(_loop_type()) is uvloop.Loop


def test_the_standard_loop_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(event_loop.ENV, "asyncio")
    assert not issubclass(event_loop.run(_loop_type()), uvloop.Loop)


def test_an_unknown_loop_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(event_loop.ENV, "tokio")
    with pytest.raises(event_loop.EventLoopChoiceError, match="DEALBRIDGE_EVENT_LOOP='tokio'"):
        event_loop.loop_factory()


def test_the_command_exits_2_on_an_unknown_loop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in credentials("freshdesk").items():
        monkeypatch.setenv(name, value)
    config = write_world_config(tmp_path / "config.yaml", tmp_path, "freshdesk", fast=True)
    monkeypatch.setenv(event_loop.ENV, "tokio")
    result = CliRunner().invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 2
    assert "use one of uvloop, asyncio" in result.output
