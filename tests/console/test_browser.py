"""The console in a real browser: Playwright driving Debian's Chromium against a served app.

Playwright's own browser download is not reachable from these machines, so the tests launch
the system's ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it) and skip,
saying so, where it is absent. ``DEALBRIDGE_SCREENSHOTS=docs/console`` saves each page's
screenshot there (the README shows two of them); by default they go to the test's folder.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from sync_jobs.app.web import console_app
from tests.console.conftest import PASSWORD, ConsoleWorld

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(console_world: ConsoleWorld) -> Iterator[str]:
    """The console on a loopback port, served by uvicorn in a thread."""
    port = _free_port()
    app = console_app(
        console_world.config_path,
        transports=console_world.world.transports(),
        clock=console_world.clock,
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (apt-get install -y chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("DEALBRIDGE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sign_in(browser: Any, base: str, name: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.script_errors = []  # script errors and CSP refusals the page met
    page.on("pageerror", lambda error: page.script_errors.append(str(error)))
    page.on(
        "console",
        lambda message: page.script_errors.append(message.text)
        if message.type == "error"
        else None,
    )
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button:has-text("Sign in")')
    page.wait_for_url(f"{base}/")
    return page


def test_sign_in_and_see_the_overview(browser: Any, served: str, shots: Path) -> None:
    page = _sign_in(browser, served, "vic")
    assert page.locator("h1").inner_text() == "Overview"
    assert page.locator("table.jobs tbody tr").count() == 3
    assert page.locator("svg.chart").count() == 3
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    assert page.script_errors == []


def test_resolve_a_conflict_and_see_it_applied_after_the_next_run(
    browser: Any, served: str, shots: Path, console_world: ConsoleWorld
) -> None:
    page = _sign_in(browser, served, "lee")
    page.goto(f"{served}/conflicts?status=open&kind=territory_disagreement")
    page.screenshot(path=str(shots / "conflicts.png"), full_page=True)
    page.locator("table.conflicts tbody tr a").first.click()
    page.screenshot(path=str(shots / "conflict.png"), full_page=True)
    page.click('button:has-text("Take territory")')
    effect = page.locator("p.effect").inner_text()
    assert effect.startswith("If you confirm, the next run keeps")
    page.screenshot(path=str(shots / "confirm.png"), full_page=True)
    page.click('button:has-text("Confirm")')
    assert "Decision recorded" in page.locator("p.ok").inner_text()
    assert "not applied yet" in page.content()
    console_world.run_all()
    page.reload()
    assert page.locator("strong.ok", has_text="applied").count() == 1


def test_edit_a_mapping_see_the_error_at_its_line_then_fix_it_and_see_the_preview(
    browser: Any, served: str, shots: Path, console_world: ConsoleWorld
) -> None:
    page = _sign_in(browser, served, "ada")
    page.goto(f"{served}/customers?q=globex")  # West's alone: the West mapping decides
    globex = re.search(
        r"organization:\d+", page.locator("ul.found a").first.get_attribute("href") or ""
    )
    assert globex is not None
    page.goto(f"{served}/mappings/west")
    original = page.locator("#mapping-text").input_value()
    line = original.split("\n").index(
        "  discount_percent: {from: Special_Discount__c, type: percent}"
    )
    page.fill("#mapping-text", original.replace("type: percent}", "type: percentage}"))
    problem = page.locator(f'li.has-problem[data-line="{line + 1}"]')
    problem.wait_for(timeout=10_000)  # the script checks half a second after the last key
    assert "terms.discount_percent.type" in problem.inner_text()
    page.screenshot(path=str(shots / "mapping-error.png"), full_page=True)
    page.fill("#preview-customer", globex.group(0))
    page.fill("#mapping-text", original.replace("{value: sla,", "{value: approved_by,"))
    page.locator("#preview").wait_for(timeout=10_000)
    assert "organization_fields.sla_promise" in page.locator("#preview h5").first.inner_text()
    page.screenshot(path=str(shots / "mapping-preview.png"), full_page=True)
    assert page.script_errors == [], "the editor's script ran without errors or CSP refusals"
    assert console_world.mapping("west").read_text() == original


def test_a_viewer_is_refused_a_change(browser: Any, served: str) -> None:
    page = _sign_in(browser, served, "vic")
    answer = page.goto(f"{served}/conflicts/1/resolve?take=target")
    assert answer is not None
    assert answer.status == 403
    assert "needs the lead role" in page.locator("p.problem").inner_text()


def test_a_form_with_a_tampered_csrf_token_is_refused(browser: Any, served: str) -> None:
    page = _sign_in(browser, served, "lee")
    page.goto(f"{served}/alerts")
    page.evaluate(
        "document.querySelectorAll('input[name=csrf]').forEach(f => { f.value = 'forged'; })"
    )
    with page.expect_navigation():
        page.click('button:has-text("Sign out")')
    assert "security token" in page.locator("p.problem").inner_text()


def test_an_expired_session_sends_the_person_back_to_sign_in(
    browser: Any, served: str, console_world: ConsoleWorld
) -> None:
    page = _sign_in(browser, served, "vic")
    console_world.clock.shift = timedelta(hours=9)
    page.goto(f"{served}/conflicts")
    assert "/login?next=/conflicts" in page.url


def test_screenshots_of_the_remaining_pages(browser: Any, served: str, shots: Path) -> None:
    page = _sign_in(browser, served, "ada")
    page.goto(f"{served}/customers?q=acme")
    page.locator("ul.found a").first.click()
    page.locator("pre.note").wait_for(timeout=10_000)
    page.screenshot(path=str(shots / "customer.png"), full_page=True)
    assert page.script_errors == []
    page.goto(f"{served}/alerts")
    page.screenshot(path=str(shots / "alerts.png"), full_page=True)
    page.goto(f"{served}/users")
    page.screenshot(path=str(shots / "users.png"), full_page=True)
