"""The dashboard's shell in a real Chromium: served as its own files under a strict CSP, signed in across reloads
without a token in any URL, in the browser's language with a switch that sticks."""

import re
from html.parser import HTMLParser

import httpx
from playwright.async_api import expect

from api.dashboard import DIST


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.sources: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self._in_script = True
            source = dict(attrs).get("src")
            if source:
                self.sources.append(source)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline.append(data)


async def test_the_page_runs_only_its_own_files(stack):
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        first, second = await http.get("/"), await http.get("/jobs")
        csp = first.headers["content-security-policy"]
        directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
        assert directives["script-src"] == "'self'"
        nonce = re.search(r"'nonce-([^']+)'", directives["style-src"])
        assert nonce and nonce.group(1) in first.text
        # A fresh nonce per response: one read from a page is no use against the next.
        assert second.headers["content-security-policy"] != csp
        scripts = _Scripts()
        scripts.feed(first.text)
        assert scripts.inline == [] and scripts.sources and all(src.startswith("/assets/") for src in scripts.sources)
        for src in scripts.sources:
            asset = await http.get(src)
            assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
            assert asset.headers["x-content-type-options"] == "nosniff"
        missing = await http.get("/no-such-screen")
        assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    assert (DIST / "index.html").exists()


async def test_a_reload_keeps_the_user_signed_in_on_their_screen_and_no_url_carries_a_token(tab, make_user):
    user = await make_user("user")
    page_tab = await tab()
    requested: list[str] = []
    page_tab.page.on("request", lambda request: requested.append(request.url))
    page_tab.page.on("websocket", lambda ws: requested.append(ws.url))
    await page_tab.sign_in(user.username, "password-1")
    await expect(page_tab.page).to_have_url(re.compile(r"/jobs$"))
    await page_tab.page.reload()
    await expect(page_tab.page.get_by_test_id("whoami")).to_contain_text(user.username)
    await expect(page_tab.page).to_have_url(re.compile(r"/jobs$"))
    await expect(page_tab.page.get_by_test_id("live-state")).to_have_attribute("data-state", "live")
    session = await page_tab.page.evaluate("JSON.parse(localStorage.getItem('longrun.session'))")
    assert session["user"]["username"] == user.username
    assert any("/api/v1/ws/jobs" in url for url in requested)
    assert not [url for url in requested if session["access"] in url or session["refresh"] in url]
    assert page_tab.csp_violations() == []


async def test_signing_out_ends_the_session_on_the_server_too(tab, make_user, stack):
    user = await make_user("user")
    page_tab = await tab()
    await page_tab.sign_in(user.username, "password-1")
    session = await page_tab.page.evaluate("JSON.parse(localStorage.getItem('longrun.session'))")
    await page_tab.page.get_by_role("button", name="Sign out").click()
    await expect(page_tab.page.get_by_role("button", name="Sign in")).to_be_visible()
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        refused = await http.post("/api/token/refresh/", json={"refresh": session["refresh"]})
    assert refused.status_code == 401


async def test_the_page_speaks_the_browsers_language_and_the_switch_sticks(tab, make_user):
    user = await make_user("user")
    page_tab = await tab(locale="ru-RU")
    await page_tab.goto("/")
    await expect(page_tab.page.get_by_role("button", name="Войти")).to_be_visible()
    await page_tab.sign_in(user.username, "password-1")
    await expect(page_tab.page.get_by_role("menuitem", name="Задачи")).to_be_visible()
    await page_tab.page.get_by_label("Язык").click()
    await page_tab.page.get_by_title("Українська").click()
    await expect(page_tab.page.get_by_role("menuitem", name="Завдання")).to_be_visible()
    await page_tab.page.reload()
    await expect(page_tab.page.get_by_role("button", name="Вийти")).to_be_visible()
    assert await page_tab.page.evaluate("document.documentElement.lang") == "uk"


async def test_a_wrong_password_is_said_in_words(tab, make_user):
    user = await make_user("user")
    page_tab = await tab()
    await page_tab.goto("/")
    await page_tab.page.get_by_label("Username").fill(user.username)
    await page_tab.page.get_by_label("Password").fill("wrong-password")
    await page_tab.page.get_by_role("button", name="Sign in").click()
    await expect(page_tab.page.get_by_test_id("sign-in-error")).to_be_visible()
    assert await page_tab.page.evaluate("localStorage.getItem('longrun.session')") is None
