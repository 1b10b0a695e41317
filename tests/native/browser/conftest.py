"""The CLI against the web app in Debian's Chromium.

The IdP, server and built assets come from the e2e suite's fixtures. The browser
does not: Playwright's sync API allows one instance per thread and the e2e suite
holds the main thread's, so these tests drive their own Chromium with the async
API on a loop in a thread of their own (``BrowserThread``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import built_assets, idp, server  # noqa: F401 - fixtures
from tests.native.browser.driver import BrowserThread


@pytest.fixture(scope="module")
def browser_thread() -> Iterator[BrowserThread]:
    driver = BrowserThread()
    try:
        yield driver
    finally:
        driver.close()
