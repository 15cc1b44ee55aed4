"""Page tests in a real browser: Debian's Chromium driven by Playwright against the platform
served on a loopback port (tests/browser/harness.py; how to write one: docs/browser-tests.md).

Where Chromium or Playwright is missing, the tests are skipped with the reason and the fix,
and the end-of-run summary says in red that the browser suite did not run; with
YKT_REQUIRE_BROWSER=1 (CI) they fail instead, so a broken set-up cannot pass unnoticed.

One Chromium and one platform for the whole browser suite (package scope, so the
platform is gone before other suites run); a fresh browser context (cookies,
storage, locale) for each test, which runs once in Chinese and once in English.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests import servers
from tests.browser.harness import (
    HOW_TO_INSTALL,
    SUITE,
    VIEWPORTS,
    LiveServer,
    chromium_path,
    describe_browser,
    launch,
    live_platform,
    missing_browser,
)
from yikatong.pages.i18n import LANGUAGE_COOKIE

LOCALES = ("zh-CN", "en")
PAGE_LOCALES = {"zh-CN": "zh_CN", "en": "en"}
# Chromium logs a page answered with a 4xx (a form refused, a sign-in needed) as a console
# error; that is the page telling the person something, not a fault. A script, style or image
# answered 4xx is one (`_misbehaved`).
A_PAGE_REFUSED = "Failed to load resource: the server responded with a status of 4"


def _misbehaved(response) -> bool:
    if response.status >= 500:
        return True
    return response.status >= 400 and response.request.resource_type != "document"


def pytest_collection_modifyitems(items):
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


def _not_run(problem: str) -> None:
    message = f"{problem}: {HOW_TO_INSTALL}"
    servers.suite_did_not_run(SUITE, message)
    if os.environ.get("YKT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"YKT_REQUIRE_BROWSER=1 but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    """One headless Chromium for the session."""
    problem = missing_browser()
    if problem is not None:
        _not_run(problem)
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            chromium = launch(playwright)
        except Error as error:
            _not_run(f"Chromium at {chromium_path()} did not start ({str(error).splitlines()[0]})")
        servers.USED[SUITE] = describe_browser(chromium)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="package")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """The platform with the synthetic population, served for the browser (harness.live_platform)."""
    with live_platform(tmp_path_factory.mktemp("ykt-browser")) as live:
        yield live


@pytest.fixture(params=LOCALES)
def locale(request) -> str:
    return request.param


@pytest.fixture
def page(request, browser, live_server, locale) -> Iterator[object]:
    """A page in a fresh context: relative URLs go to the live server, the browser asks for
    `locale`, the viewport is a phone's unless the test is marked `viewport("desk")`. The test
    fails if the page threw a script error, logged a console error (a blocked script or
    style is one: the pages' CSP), got a 5xx answer, or asked any other host (no CDN)."""
    marker = request.node.get_closest_marker("viewport")
    viewport = VIEWPORTS[marker.args[0] if marker else "phone"]
    context = browser.new_context(base_url=live_server.url, locale=locale,
                                  timezone_id="Asia/Shanghai", viewport=viewport,
                                  device_scale_factor=1)
    context.set_default_timeout(10_000)
    problems: list[str] = []
    own = urlsplit(live_server.url).netloc

    def only_our_server(route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            problems.append(f"asked another host: {route.request.url}")
            route.abort()

    context.route("**/*", only_our_server)
    # The pages' language is the reader's choice (pages.i18n), made here as the switch makes it.
    context.add_cookies([{"name": LANGUAGE_COOKIE, "value": PAGE_LOCALES[locale],
                          "url": live_server.url}])
    tab = context.new_page()
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    tab.on("console", lambda message: message.type == "error"
           and not message.text.startswith(A_PAGE_REFUSED)
           and problems.append(f"console error: {message.text}"))
    tab.on("response", lambda response: _misbehaved(response)
           and problems.append(f"{response.status} from {response.url}"))
    try:
        yield tab
    finally:
        context.close()
    assert not problems, "the page misbehaved:\n" + "\n".join(problems)
