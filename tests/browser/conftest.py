"""Fixtures of the browser tests: Catena served on 127.0.0.1, Debian's Chromium driven by
Playwright, and a `journey` that records each step (see journey.py).

These tests need Debian's Chromium at /usr/bin/chromium and the Python package playwright
(requirements-test.txt). Without them they are skipped with one message saying how to get
them, unless CATENA_REQUIRE_BROWSER=1 (set by .ci/run), which makes them fail instead.
Playwright's own browser download is never used: this network refuses it.
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
from pathlib import Path

import pytest

from app.config import ROOT_DIR
from tests.browser import accessibility
from tests.browser.journey import Journey
from tests.browser.server import LiveServer
from tests.scratch_databases import create_scratch_database, drop_scratch_database

CHROMIUM = Path("/usr/bin/chromium")
#: Chromium's switches: headless, as root, and nothing that reaches for Google's hosts, which
#: this machine's closed network refuses (slowly, many at a time).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTEFACTS = ROOT_DIR / "test-artifacts" / "browser"
DESKTOP = {"width": 1280, "height": 900}
#: Playwright's descriptor of a phone (412 × 839 CSS pixels, touch, mobile user agent).
PHONE = "Pixel 7"
HOW_TO_GET_THEM = (
    "browser tests need Debian's Chromium at /usr/bin/chromium and the playwright package: "
    "`apt-get install chromium` and `.venv/bin/pip install -r requirements-test.txt` "
    "(never `playwright install`, whose download this network refuses)"
)


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the Python package playwright is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is not there"
    return None


_MISSING = _missing()


@pytest.fixture(autouse=True)
def _isolated_database():
    """The suite's rolled-back transaction cannot reach a server in another thread: these tests
    work on the browser session's own database (server.py) instead."""
    yield


# Package scope: Chromium and the server stop after the last browser test, not at the end of
# the whole suite.
@pytest.fixture(scope="package")
def playwright_chromium():
    if _MISSING:
        message = f"{_MISSING}: {HOW_TO_GET_THEM}"
        if os.environ.get("CATENA_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CATENA_REQUIRE_BROWSER=1 but {message}", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield playwright, browser
        finally:
            browser.close()


@pytest.fixture(scope="package")
def live_server(playwright_chromium, tmp_path_factory):
    test_database_url = os.environ.get("TEST_DATABASE_URL")
    scratch = tmp_path_factory.mktemp("browser")
    database_url = create_scratch_database(test_database_url, scratch, "browser")
    server = LiveServer(database_url, scratch / "instance").start()
    try:
        yield server
    finally:
        server.stop()
        drop_scratch_database(test_database_url, database_url)


@pytest.fixture
def seeded(live_server):
    """`with seeded(): factories.user(...)` writes into the served database, for real."""
    return live_server.seeded


@pytest.fixture
def artefacts(request) -> Path:
    """test-artifacts/browser/<test>/, emptied at the start of the test."""
    directory = ARTEFACTS / request.node.name
    shutil.rmtree(directory, ignore_errors=True)
    return directory


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call":
        item.browser_test_failed = report.failed
    if report.skipped and _MISSING and isinstance(report.longrepr, tuple):
        # Every browser test skips for the same reason: one line in the summary, not one per test.
        report.longrepr = (__file__, inspect.getsourcelines(_missing)[1], report.longrepr[2])
    return report


@pytest.fixture
def open_journey(request, playwright_chromium, live_server, artefacts):
    """open_journey(name="desktop", phone=False) → a Journey in a fresh browser context (no
    cookies), recording into test-artifacts/browser/<test>/<name>/ when a name is given."""
    playwright, browser = playwright_chromium
    contexts = []
    journeys = []

    def open_(name: str | None = None, *, phone: bool = False) -> Journey:
        options = dict(playwright.devices[PHONE]) if phone else {"viewport": DESKTOP}
        options.pop("default_browser_type", None)
        # The phone's layout is that of its CSS pixels; at its real density (2.625) each full-page
        # screenshot takes three times as long and adds nothing the check needs.
        options["device_scale_factor"] = 1
        # Reduced motion: Bootstrap then drops its transitions, so that neither a screenshot nor
        # axe's contrast check catches a button half-way between two colours.
        context = browser.new_context(base_url=live_server.url, locale="en-GB", timezone_id="Europe/Rome",
                                      reduced_motion="reduce", **options)
        context.set_default_timeout(15_000)
        accessibility.install(context)
        contexts.append(context)
        journeys.append(Journey(context.new_page(), live_server.url, artefacts / name if name else artefacts))
        return journeys[-1]

    yield open_
    if getattr(request.node, "browser_test_failed", False):
        for journey in journeys:  # the page as it was when the test failed
            journey.artefacts.mkdir(parents=True, exist_ok=True)
            journey.page.screenshot(path=str(journey.artefacts / "failure.png"), full_page=True)
    for context in contexts:
        context.close()


@pytest.fixture
def journey(open_journey) -> Journey:
    return open_journey()
