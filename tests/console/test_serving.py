"""The same console from ``dealbridge daemon --web-port`` and ``dealbridge web``; people
managed with ``dealbridge users``; alerts linking to the console when its address is set."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sync_jobs.alerts.base import Alert
from sync_jobs.alerts.content import failure_alert
from sync_jobs.alerts.outbox import with_console_link
from sync_jobs.app.cli import app
from sync_jobs.app.daemon import Daemon, DaemonOptions
from sync_jobs.config.app import load_config
from tests.console.conftest import PASSWORD, ConsoleWorld, token_in

PASSWORD_LINE = "a long enough passphrase\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_users_are_added_listed_and_removed_from_the_shell(console_world: ConsoleWorld) -> None:
    runner = CliRunner()
    config = str(console_world.config_path)
    added = runner.invoke(
        app,
        ["users", "add", "sam", "--role", "lead", "--password-stdin", "-c", config],
        input=PASSWORD_LINE,
    )
    assert added.exit_code == 0, added.output
    assert "added sam (lead)" in added.output
    listed = runner.invoke(app, ["users", "list", "-c", config])
    assert re.search(r"^sam\s+lead\s", listed.output, re.MULTILINE)
    assert PASSWORD_LINE.strip() not in listed.output
    removed = runner.invoke(app, ["users", "remove", "sam", "-c", config])
    assert removed.exit_code == 0
    assert "sam" not in runner.invoke(app, ["users", "list", "-c", config]).output
    assert runner.invoke(app, ["users", "remove", "sam", "-c", config]).exit_code == 1


def test_users_add_refuses_a_short_password_an_unknown_role_and_no_stdin(
    console_world: ConsoleWorld,
) -> None:
    runner = CliRunner()
    config = str(console_world.config_path)
    short = runner.invoke(
        app, ["users", "add", "x", "--role", "admin", "--password-stdin", "-c", config], input="x\n"
    )
    assert short.exit_code == 2
    role = runner.invoke(
        app,
        ["users", "add", "x", "--role", "owner", "--password-stdin", "-c", config],
        input=PASSWORD_LINE,
    )
    assert role.exit_code == 2
    assert runner.invoke(app, ["users", "add", "x", "--role", "admin", "-c", config]).exit_code == 2


@pytest.mark.anyio
@pytest.mark.slow
async def test_the_daemon_serves_the_console_and_reloads_a_mapping_saved_there(
    console_world: ConsoleWorld,
) -> None:
    port = _free_port()
    options = DaemonOptions(
        health_port=_free_port(),
        web_port=port,
        transports=console_world.world.transports(),
        reload_every=3600,  # the test asks for the reload itself
    )
    daemon = Daemon(console_world.config_path, options)
    task = asyncio.create_task(daemon.run())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            login = await _when_up(client)
            signed = await client.post(
                "/login",
                data={"name": "ada", "password": PASSWORD, "csrf": token_in(login.text)},
            )
            assert signed.status_code == 303
            editor = await client.get("/mappings/west")
            text = console_world.mapping("west").read_text()
            looser = text.replace("discount_percent: {max: 20}", "discount_percent: {max: 25}")
            saved = await client.post(
                "/mappings/west",
                data={
                    "csrf": token_in(editor.text),
                    "text": looser,
                },
            )
            assert "Saved" in saved.text
        await daemon._check_reload()
        assert daemon.engine is not None
        assert daemon.engine.mappings["west"].spec.guardrails["discount_percent"].max == 25
    finally:
        daemon.stop()
        assert await asyncio.wait_for(task, timeout=30) == 0


async def _when_up(client: httpx.AsyncClient) -> httpx.Response:
    for _ in range(200):
        try:
            return await client.get("/login")
        except httpx.TransportError:
            await asyncio.sleep(0.05)
    raise AssertionError("the console did not start with the daemon")


@pytest.mark.slow
def test_dealbridge_web_serves_the_console(console_world: ConsoleWorld) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dealbridge"),
            "web",
            "--port",
            str(port),
            "-c",
            str(console_world.config_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/login")
                break
            except httpx.TransportError:
                assert process.poll() is None, "dealbridge web exited"
                assert time.monotonic() < deadline, "dealbridge web did not start"
                time.sleep(0.1)
        assert answer.status_code == 200
        assert answer.headers["x-frame-options"] == "DENY"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_web_base_url_makes_alerts_link_to_the_console(
    console_world: ConsoleWorld, tmp_path: Path
) -> None:
    text = console_world.config_path.read_text() + "web:\n  base_url: https://db.example.com/\n"
    console_world.config_path.write_text(text)
    config = load_config(console_world.config_path)
    assert config.web.base_url == "https://db.example.com"
    assert config.alerts.base_url == "https://db.example.com"


def test_every_alert_links_to_its_run_or_the_overview() -> None:
    base = "https://db.example.com"
    failed = failure_alert("run_failed", "west", "boom", "1", run_id="abc123")
    assert with_console_link(failed, base).link == f"{base}/runs/abc123"
    unhealthy = failure_alert("connector_unhealthy", "zendesk", "down", "1")
    assert with_console_link(unhealthy, base).link == f"{base}/"
    conflict = Alert(
        key="k",
        kind="target_edited",
        severity="warning",
        title="t",
        summary="s",
        action="a",
        link=f"{base}/conflicts/7",
    )
    assert with_console_link(conflict, base).link == f"{base}/conflicts/7"
    assert with_console_link(failed, None).link is None
