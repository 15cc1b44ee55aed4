"""What a page test needs around Debian's Chromium driven by Playwright: finding and starting
the browser, the live platform it talks to, the accessibility check and the screenshots.

The fixtures are in conftest.py; a page test imports `assert_accessible` and `screenshot`
from here (docs/browser-tests.md).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from tests import servers

SUITE = "browser suite"
# Debian's package (`apt-get install chromium`): Playwright's own browser download cannot reach
# its servers here, so the driver is pointed at the system browser. YKT_CHROMIUM names another.
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Headless, as root in a container, and silent: no call home, no updates, no sync.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync")
HOW_TO_INSTALL = ("install Debian's Chromium as root (`apt-get install chromium`; .ci/run does) "
                  "and the test extra (`pip install -e '.[test]'`: playwright, "
                  "axe-playwright-python); YKT_CHROMIUM names another Chromium binary")

# Deterministic screenshot widths: cardholder pages are phone-sized first, staff work at a desk.
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desk": {"width": 1280, "height": 800}}
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
# axe-core impacts that fail a page (minor and moderate are reported by axe, not failed here).
BLOCKING_IMPACTS = ("serious", "critical")
# The tests play many people from one address under a clock that moves only when told, so
# the per-address windows never roll over; the limits themselves are tested in tests/core.
THROTTLE_LIMITS = ("holder_sign_up=100000 per hour; ecard_check=100000 per minute; "
                   "login_address=100000 per 15 minutes; holder_calls=100000 per minute")


def expect(target, message: str | None = None):
    """Playwright's `expect`, imported when called: a page test module imports this one, so
    it is still collected (and skipped or failed with the fix) where Playwright is missing."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target, message)


def chromium_path() -> str:
    return os.environ.get("YKT_CHROMIUM", DEFAULT_CHROMIUM)


def missing_browser() -> str | None:
    """Why the browser suite cannot run here, or None when it can (before starting it)."""
    try:
        import axe_playwright_python  # noqa: F401
        import playwright  # noqa: F401
    except ImportError as error:
        return f"{error.name} is not installed"
    path = chromium_path()
    if not os.access(path, os.X_OK):
        return f"no Chromium at {path}"
    return None


def launch(playwright):
    """Debian's Chromium under Playwright (Playwright 1.65 drives Chromium 156)."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=list(CHROMIUM_ARGS))


def describe_browser(browser) -> str:
    """The summary line: which browser, driver and axe-core the pages were checked with."""
    from importlib.metadata import version

    from axe_playwright_python.base import AXE_SCRIPT

    axe = AXE_SCRIPT[:40].split("axe v", 1)[-1].split()[0]
    return (f"Chromium {browser.version} at {chromium_path()} (Playwright "
            f"{version('playwright')}, axe-core {axe})")


@dataclass(frozen=True)
class LiveServer:
    """The platform served over HTTP for the browser, and the same platform in this process
    for arranging what a test needs through the service layer (and moving its clock)."""

    url: str
    platform: object  # yikatong.platform.Platform
    population: object  # yikatong.demo.population.PopulationIndex


@contextmanager
def live_platform(folder: Path) -> Iterator[LiveServer]:
    """The platform as `ykt demo --population` leaves it and `ykt serve` serves it, in this
    process: a migrated SQLite file in `folder` with the reference data and the synthetic
    population, development mode, the demo's clock (moves only when told), the background
    worker running, uvicorn on a loopback port in a thread."""
    from yikatong.api.app import create_app
    from yikatong.auth.throttle import Throttle
    from yikatong.demo.population import build_population
    from yikatong.demo.scenario import demo_platform
    from yikatong.worker.runner import run_forever

    with demo_platform(folder, None) as platform:
        population = build_population(platform)
        platform.settings = replace(platform.settings, throttle_limits=THROTTLE_LIMITS)
        platform.provide(Throttle, Throttle.for_platform(platform))
        stop = threading.Event()
        worker = threading.Thread(target=run_forever, args=(platform,),
                                  kwargs={"stop": stop.is_set}, daemon=True, name="ykt-worker")
        worker.start()
        try:
            with servers.serving(create_app(platform)) as url:
                yield LiveServer(url=url, platform=platform, population=population)
        finally:
            stop.set()
            worker.join(timeout=15)


def assert_accessible(page) -> None:
    """axe-core over the page as it is now: fails on any serious or critical violation, with
    axe's own report. Every rule runs; none is ever disabled."""
    from axe_playwright_python.base import AxeResults
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.response["testEngine"]["name"] == "axe-core", "axe-core did not run"
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, AxeResults({"violations": blocking}).generate_report()


def screenshot(page, name: str) -> Path:
    """The whole page as docs/screens/<name>.<language>.png (zh or en, from the browser's
    locale); the width is the viewport's, so the files change only when the page does."""
    language = page.evaluate("navigator.language").split("-")[0]
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.{language}.png"
    page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
    return path


def sign_in(page, username: str, password: str | None = None) -> None:
    """Sign in at /signin as a person would, from the keyboard (the population's people who work
    in pages share demo.population.PASSWORD)."""
    from yikatong.demo.population import PASSWORD

    page.goto("/signin")
    page.locator("#f-username").fill(username)
    page.locator("#f-password").fill(password or PASSWORD)
    page.locator("#f-password").press("Enter")
