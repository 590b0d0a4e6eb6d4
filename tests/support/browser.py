"""A real headless Chromium (Debian's, `make browser`; devstack/browser.py) driven by Playwright against the stack's
API and dashboard."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, expect

from devstack.browser import VIEWPORT

ROOT = Path(__file__).resolve().parents[2]
# Written by the screen tests, committed, so a reviewer can look at every screen without running anything.
SCREENSHOTS = ROOT / "docs" / "screens"
# How long a screen may take to show what it waits for (a job starting, a push arriving); generous for two cores.
DEADLINE_MS = 30_000


class Tab:
    """One signed-in browser tab, with what the page complained of (console errors, CSP violations)."""

    def __init__(self, context: BrowserContext, page: Page, base_url: str) -> None:
        self.context = context
        self.page = page
        self.base_url = base_url
        self.console_errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console_errors.append(f"pageerror: {error}"))
        page.on("dialog", self._dialog)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    async def _dialog(self, dialog) -> None:
        # An alert() would mean planted script ran: record it, dismiss it.
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def csp_violations(self) -> list[str]:
        return [text for text in self.console_errors if "Content Security Policy" in text]

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base_url + path)

    async def sign_in(self, username: str, password: str) -> None:
        await self.goto("/")
        await self.page.get_by_label(re.compile("Username|Имя пользователя|Ім'я користувача")).fill(username)
        await self.page.get_by_label(re.compile("Password|Пароль")).fill(password)
        await self.page.get_by_role("button", name=re.compile("Sign in|Войти|Увійти")).click()
        await expect(self.page.get_by_test_id("whoami")).to_contain_text(username, timeout=DEADLINE_MS)

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        # Transitions fast-forwarded to their end: the screen as it settles, not half-way through a fade (antd's
        # table fades its rows in after every load).
        await self.page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    async def close(self) -> None:
        await self.context.close()


async def open_tab(browser: Browser, base_url: str, locale: str = "en-US") -> Tab:
    context = await browser.new_context(viewport=VIEWPORT, locale=locale, base_url=base_url)  # type: ignore[arg-type]
    context.set_default_timeout(DEADLINE_MS)
    return Tab(context, await context.new_page(), base_url)


async def choose(page: Page, combobox: Locator, text: str) -> None:
    """Pick an option of a searchable select as a person with a long list would: type to narrow it (the list renders
    only the options in view, so one further down is not there to click)."""
    await combobox.click()
    await page.keyboard.type(text)
    await page.locator(".ant-select-dropdown:visible .ant-select-item-option").filter(has_text=text).first.click()
