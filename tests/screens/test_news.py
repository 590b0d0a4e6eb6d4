"""The News screen in a real Chromium against the real stack: an editor adds a source, starts a discovery over the
chosen sources and watches its drafts arrive while it runs (no reload), then edits, publishes and rejects drafts
and filters them by source, "new since" and page; a user may start a discovery and read, but is offered no edit;
planted outside text (a feed's javascript: links, an LLM's markup) stays text."""

import itertools
import re
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.async_api import Page, expect

from tests.support.browser import choose
from tests.support.news import ITEMS, NEWS_PER_FEED, make_sources

PLANTED = '<img src=x onerror="alert(document.domain)">'
SCRIPT_LINK = "javascript:alert(1)"
_slugs = itertools.count(1)


def query_of(page: Page) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(page.url).query).items()}


async def confirm(page: Page, button: str) -> None:
    """Press the button of the open Popconfirm."""
    await page.locator(".ant-popconfirm-buttons:visible").get_by_role("button", name=button).click()


async def test_an_editor_adds_a_source_discovers_and_works_the_drafts_as_they_arrive(
    tab, stack, admin, make_user, feeds
):
    manager = await make_user("manager")
    [held] = await make_sources(admin, stack, 1)
    page_tab = await tab()
    await page_tab.sign_in(manager.username, "password-1")
    await page_tab.goto("/news")
    page = page_tab.page
    loads = []
    page.on("load", lambda _: loads.append(1))

    # Add a source through the form.
    name = f"City desk {next(_slugs)}"
    await page.get_by_role("button", name="Add source").click()
    form = page.get_by_test_id("source-form")
    await form.get_by_label("Name").fill(name)
    await form.get_by_label("Feed (RSS or Atom)").fill(f"{stack.feeds_url}/feeds/ui{next(_slugs)}.rss?items={ITEMS}")
    await form.get_by_label("Topic").fill("city politics and services")
    await page.get_by_role("button", name="Save").click()
    added = page.locator("tr[data-source-id]").filter(has_text=name)
    await expect(added).to_contain_text("Not read yet")
    added_id = int(await added.get_attribute("data-source-id"))
    [source] = [s for s in await manager.ok("GET", "/api/v1/news/sources") if s["id"] == added_id]
    assert (source["name"], source["topic"], source["active"]) == (name, "city politics and services", True)

    # The other source's feed answers 503 until the test has seen the first one's drafts with the run still going.
    await feeds.fault(path=httpx.URL(held["feed_url"]).path, kind="status", status=503, retry_after=1, times=None)
    held_row = page.locator(f'tr[data-source-id="{held["id"]}"]')
    await held_row.locator("input[type=checkbox]").check()
    await added.locator("input[type=checkbox]").check()
    await page.get_by_role("button", name="Find news in 2 chosen").click()

    panel = page.get_by_test_id("job-panel")
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "running")
    job_id = await panel.get_attribute("data-job-id")
    assert query_of(page)["run"] == job_id and query_of(page)["tab"] == "drafts"
    drafts = page.get_by_test_id("drafts-table")
    # The first source's drafts arrive on the open page while the run still waits on the other source.
    await expect(page.get_by_test_id("drafts-total")).to_have_text(f"{NEWS_PER_FEED} found")
    await expect(drafts.locator("tr[data-draft-id]")).to_have_count(20)
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "running")
    await expect(drafts).to_contain_text(name)

    await feeds.clear_faults()
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")
    await expect(page.get_by_test_id("drafts-total")).to_have_text(f"{2 * NEWS_PER_FEED} found")
    assert loads == [], "the page was reloaded to show the drafts"

    # Edit one, publish one, reject one.
    rows = drafts.locator("tr[data-draft-id]")
    first, second, third = [await rows.nth(i).get_attribute("data-draft-id") for i in range(3)]
    row = drafts.locator(f'tr[data-draft-id="{first}"]')
    await row.get_by_role("button", name="Edit").click()
    draft_form = page.get_by_test_id("draft-form")
    await draft_form.get_by_label("Title").fill("Council approves the new budget")
    await draft_form.get_by_label("Summary").fill("The council voted 7 to 2 for next year's budget.")
    await page.get_by_role("button", name="Save").click()
    await expect(row.get_by_test_id("draft-title")).to_have_text("Council approves the new budget")
    await expect(row.get_by_test_id("draft-summary")).to_contain_text("voted 7 to 2")

    await row.get_by_role("button", name="Publish").click()
    await confirm(page, "Publish")
    await expect(row).to_have_attribute("data-status", "published")
    assert await row.get_by_role("button", name="Publish").count() == 0
    second_row = drafts.locator(f'tr[data-draft-id="{second}"]')
    await second_row.get_by_role("button", name="Reject").click()
    await confirm(page, "Reject")
    await expect(second_row).to_have_attribute("data-status", "rejected")
    listed = await manager.ok("GET", "/api/v1/news/drafts", params={"run_id": job_id, "limit": 100})
    decided = {d["id"]: d for d in listed["items"]}
    assert (decided[int(first)]["status"], decided[int(first)]["title"]) == (
        "published",
        "Council approves the new budget",
    )
    assert (decided[int(second)]["status"], decided[int(third)]["status"]) == ("rejected", "draft")
    await expect(page.locator(".ant-message-notice")).to_have_count(0)  # the notices have gone: nothing covers the run
    await page_tab.screenshot("news-drafts")

    # Another editor decided a draft first: the stale screen's click is told so in the API's words.
    await admin.ok("POST", f"/api/v1/news/drafts/{third}/reject")
    await drafts.locator(f'tr[data-draft-id="{third}"]').get_by_role("button", name="Publish").click()
    await confirm(page, "Publish")
    await expect(page.get_by_text(f"draft {third} is rejected: it cannot become published")).to_be_visible()
    await expect(drafts.locator(f'tr[data-draft-id="{third}"]')).to_have_attribute("data-status", "rejected")

    # Filter by source, then page through it; "new since" from its presets, and a time after every draft.
    await choose(page, page.get_by_test_id("filter-source"), name)
    await expect(page.get_by_test_id("drafts-total")).to_have_text(f"{NEWS_PER_FEED} found")
    assert query_of(page)["source"] == str(added_id)
    await page.get_by_test_id("drafts-list").locator(".ant-pagination-item-2").click()  # not the sources' pager
    await expect(rows).to_have_count(NEWS_PER_FEED - 20)
    assert query_of(page)["page"] == "2"
    await expect(drafts.get_by_test_id("draft-status").first).to_be_visible()
    await page.get_by_test_id("filter-since").click()
    await page.get_by_text("Last hour").click()
    await expect(page.get_by_test_id("drafts-total")).to_have_text(f"{NEWS_PER_FEED} found")
    assert "since" in query_of(page) and "page" not in query_of(page)
    await page_tab.goto(f"/news?tab=drafts&source={added_id}&since=2999-01-01T00:00:00Z")
    await expect(page.get_by_text("No drafts match these filters.")).to_be_visible()

    # Each source's last run, read once the run ended.
    await page_tab.goto("/news?tab=sources")
    await expect(added.get_by_test_id("last-run")).to_contain_text(f"{ITEMS} entries → {NEWS_PER_FEED} drafts")
    await expect(held_row.get_by_test_id("last-run")).to_have_attribute("data-failed", "false")
    await page_tab.screenshot("news-sources")

    # A source is edited, then deleted after a confirmation.
    await added.get_by_role("button", name="Edit").click()
    await form.get_by_label("Name").fill(f"{name} (paused)")
    await form.get_by_role("switch").click()
    await page.get_by_role("button", name="Save").click()
    await expect(added).to_contain_text("paused")
    await added.get_by_role("button", name="Delete").click()
    await confirm(page, "Delete")
    await expect(added).to_have_count(0)
    await manager.ok("GET", f"/api/v1/news/sources/{added_id}", 404)
    assert page_tab.csp_violations() == [] and page_tab.dialogs == []


async def test_a_failing_source_shows_its_error_as_its_last_run(tab, stack, admin, make_user, feeds):
    user = await make_user("user")
    [gone] = await make_sources(admin, stack, 1)
    await feeds.fault(path=httpx.URL(gone["feed_url"]).path, kind="status", status=410)
    page_tab = await tab()
    await page_tab.sign_in(user.username, "password-1")
    await page_tab.goto("/news")
    row = page_tab.page.locator(f'tr[data-source-id="{gone["id"]}"]')
    await row.locator("input[type=checkbox]").check()
    await page_tab.page.get_by_role("button", name="Find news in 1 chosen").click()
    panel = page_tab.page.get_by_test_id("job-panel")
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")
    await page_tab.page.get_by_role("tab", name="Sources").click()
    await expect(row.get_by_test_id("last-run")).to_have_attribute("data-failed", "true")
    await expect(row.get_by_test_id("last-run")).to_contain_text("410")


async def test_a_user_starts_discoveries_and_reads_but_is_offered_no_edit(tab, stack, admin, make_user):
    user = await make_user("user")
    [source] = await make_sources(admin, stack, 1, items=5)
    page_tab = await tab(locale="ru-RU")
    await page_tab.sign_in(user.username, "password-1")
    await page_tab.goto("/news")
    page = page_tab.page
    row = page.locator(f'tr[data-source-id="{source["id"]}"]')
    await expect(row).to_be_visible()
    # Sources: adding is shown disabled with the reason, and no row offers edit or delete.
    await expect(page.get_by_test_id("add-source")).to_be_disabled()
    assert await row.get_by_role("button").count() == 0
    # The API refuses what the screen does not offer.
    await user.ok("POST", "/api/v1/news/sources", 403, json={"name": "x", "feed_url": "https://example.com/f.rss"})

    # A user may start a discovery, and reads its drafts.
    await row.locator("input[type=checkbox]").check()
    await page.get_by_role("button", name="Искать новости в выбранных (1)").click()
    panel = page.get_by_test_id("job-panel")
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")
    job_id = await panel.get_attribute("data-job-id")
    drafts = page.get_by_test_id("drafts-table")
    await expect(drafts.locator("tr[data-draft-id]").first).to_be_visible()
    await expect(page.get_by_text("роль user не может их изменять")).to_be_visible()
    for action in ("Изменить", "Опубликовать", "Отклонить"):
        assert await drafts.get_by_role("button", name=action).count() == 0
    [draft, *_] = (await user.ok("GET", "/api/v1/news/drafts", params={"run_id": job_id}))["items"]
    await user.ok("POST", f"/api/v1/news/drafts/{draft['id']}/publish", 403)
    await user.ok("PATCH", f"/api/v1/news/drafts/{draft['id']}", 403, json={"title": "mine"})
    assert page_tab.csp_violations() == []


async def test_planted_outside_text_in_sources_and_drafts_stays_text(tab, stack, admin, make_user, llm):
    manager = await make_user("manager")
    slug = f"hostile{next(_slugs)}"
    # The feed serves entries whose links are javascript: (one of them with a web guid, kept under it); the LLM's
    # answer for that one is planted markup and a script link, as a hostile or confused model might write.
    feed_url = f"{stack.feeds_url}/feeds/{slug}.rss?items=3&planted=true"
    source = await admin.ok(
        "POST", "/api/v1/news/sources", 201, json={"name": PLANTED, "topic": "news", "feed_url": feed_url}
    )
    await llm.control("POST", "/_emulator/openai/plant", contains="Planted entry good-guid", item={
        "title": PLANTED, "summary": f'Read it: <a href="{SCRIPT_LINK}">here</a> or {SCRIPT_LINK}'})  # fmt: skip
    page_tab = await tab()
    await page_tab.sign_in(manager.username, "password-1")
    await page_tab.goto("/news")
    page = page_tab.page
    row = page.locator(f'tr[data-source-id="{source["id"]}"]')
    await expect(row.get_by_test_id("source-name")).to_have_text(PLANTED)
    await row.locator("input[type=checkbox]").check()
    await page.get_by_role("button", name="Find news in 1 chosen").click()
    panel = page.get_by_test_id("job-panel")
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")

    drafts = page.get_by_test_id("drafts-table")
    title = page.get_by_test_id("draft-title").get_by_text(PLANTED, exact=True)
    planted = drafts.locator("tr[data-draft-id]").filter(has=title)
    await expect(planted).to_have_count(1)
    await expect(planted.get_by_test_id("draft-summary")).to_contain_text(f'<a href="{SCRIPT_LINK}">here</a>')
    await expect(planted.get_by_test_id("draft-text")).to_contain_text(PLANTED)
    # Its link is the entry's web guid, not the javascript: link the feed gave it.
    link = planted.get_by_test_id("draft-link").locator("a")
    await expect(link).to_have_attribute("href", re.compile(rf"^http://.*/articles/{slug}/planted-good-guid$"))
    await expect(drafts.locator("tr[data-draft-id]")).to_have_count(4)  # 3 entries + the good-guid one
    assert await drafts.locator("img").count() == 0
    assert await page.locator('a[href^="javascript"], a[href^="JaVaScRiPt"], a[href^="data:"]').count() == 0
    await page.get_by_role("tab", name="Sources").click()
    await expect(row.get_by_test_id("source-name")).to_have_text(PLANTED)
    assert await page.get_by_test_id("sources-table").locator("img").count() == 0
    assert page_tab.dialogs == [] and page_tab.csp_violations() == []
