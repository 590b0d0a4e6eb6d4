import pytest
from playwright.async_api import async_playwright, expect

from devstack.browser import CHROMIUM_FLAGS, chromium_path
from devstack.stack import Stack
from tests.support.browser import DEADLINE_MS, Tab, open_tab

# A screen waits on the stack (a job starting, a push arriving): its assertions get the same deadline as the page.
expect.set_options(timeout=DEADLINE_MS)


@pytest.fixture(scope="session")
async def browser():
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def tab(browser, stack: Stack):
    """A fresh browser tab on the stack's dashboard, signed in to nothing yet."""
    opened: list[Tab] = []

    async def make(locale: str = "en-US") -> Tab:
        tab = await open_tab(browser, stack.api_url, locale)
        opened.append(tab)
        return tab

    yield make
    for tab in opened:
        await tab.close()
