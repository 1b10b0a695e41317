"""The browser comes from the e2e suite's fixtures: Playwright's sync API allows one
instance per thread, and a whole run shares it."""

from tests.e2e.conftest import browser, playwright_instance  # noqa: F401 - fixtures
