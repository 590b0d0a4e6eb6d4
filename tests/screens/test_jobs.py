"""The Jobs screen in a real Chromium: a job watched live to its end without a reload, announced when it ends,
still watched after a reload; a step being retried shown with its attempt and error; outside text in a job's
errors shown as text; and only what the role may do offered."""

import re
import time

import httpx
from playwright.async_api import expect

from devstack.clients import eventually
from devstack.stack import ADMIN_PASSWORD
from tests.support.browser import open_tab
from tests.support.news import discover, make_sources

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

PLANTED = '<img src=x onerror="alert(document.domain)">'


async def test_a_job_is_watched_live_to_its_end_announced_and_still_watched_after_a_reload(
    tab, stack, admin, make_user, llm
):
    user = await make_user("user")
    sources = await make_sources(admin, stack, 2)
    # The LLM answers slowly until the test has seen the job running on the screen.
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=1500)
    page_tab = await tab()
    await page_tab.sign_in(user.username, "password-1")
    loads = []
    page_tab.page.on("load", lambda _: loads.append(1))
    job_id = await discover(user, sources)

    row = page_tab.page.locator(f'tr[data-job-id="{job_id}"]')
    await expect(row).to_be_visible()  # pushed by the socket: the list was loaded before the job started
    await row.get_by_role("button", name="Details").click()
    panel = page_tab.page.locator(f'[data-testid="job-panel"][data-job-id="{job_id}"]')
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "running")
    await page_tab.screenshot("jobs-running")

    await llm.clear_faults()
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")
    await expect(panel.get_by_test_id("job-progress")).to_have_attribute("data-percent", "100")
    await expect(page_tab.page.get_by_text(f"News discovery finished: {job_id}")).to_be_visible()
    assert loads == [], "the page was reloaded to show the change"

    await page_tab.page.reload()
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")
    await page_tab.screenshot("jobs")
    assert page_tab.csp_violations() == [] and page_tab.dialogs == []


async def test_a_retrying_step_shows_its_attempt_and_error_and_planted_text_stays_text(
    tab, stack, admin, make_user, feeds
):
    user = await make_user("user")
    [flaky] = await make_sources(admin, stack, 1)
    gone = await admin.ok("POST", "/api/v1/news/sources", 201, json={
        "name": PLANTED, "topic": "news", "feed_url": f"{stack.feeds_url}/feeds/gone.rss"})  # fmt: skip
    await feeds.fault(path="/feeds/gone.rss", kind="status", status=404)
    flaky_path = httpx.URL(flaky["feed_url"]).path
    # 503s with a Retry-After long enough for the screen to see the step being retried, then the feed answers.
    await feeds.fault(path=flaky_path, kind="status", status=503, retry_after=1.5, times=4)
    page_tab = await tab()
    await page_tab.sign_in(user.username, "password-1")
    job_id = await discover(user, [flaky, gone])
    await page_tab.page.locator(f'tr[data-job-id="{job_id}"]').get_by_role("button", name="Details").click()
    panel = page_tab.page.locator(f'[data-testid="job-panel"][data-job-id="{job_id}"]')

    await expect(panel.get_by_test_id("job-retrying")).to_contain_text(re.compile(r"attempt [2-9]"))
    await expect(panel.get_by_test_id("job-last-error")).to_contain_text("503")
    await page_tab.screenshot("jobs-retrying")
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")
    await panel.get_by_text("Errors (1)").click()
    # The source's name is outside text: shown as written, never made an element.
    await expect(panel.get_by_test_id("job-errors")).to_contain_text(PLANTED)
    assert await panel.locator("img").count() == 0
    assert page_tab.dialogs == [] and page_tab.csp_violations() == []
    assert gone["name"] == PLANTED


async def test_a_user_is_offered_only_their_own_jobs_and_an_admin_sees_whose_each_is(tab, stack, admin, make_user):
    ann, bob = await make_user("user"), await make_user("user")
    sources = await make_sources(admin, stack, 1)
    bobs = await discover(bob, sources)
    await bob.wait_job(bobs)
    anns = await discover(ann, sources)
    await ann.wait_job(anns)

    ann_tab = await tab()
    await ann_tab.sign_in(ann.username, "password-1")
    anns_row = ann_tab.page.locator(f'tr[data-job-id="{anns}"]')
    await expect(anns_row).to_be_visible()
    # It ended before the page opened: the list says what it did and when it ended.
    await expect(anns_row.get_by_test_id("job-ended")).to_contain_text(re.compile(r"^1 of 1, 0 failed · ended "))
    await ann_tab.screenshot("jobs-ended")
    assert await ann_tab.page.locator(f'tr[data-job-id="{bobs}"]').count() == 0
    assert await ann_tab.page.get_by_role("columnheader", name="Owner").count() == 0

    admin_tab = await tab()
    await admin_tab.sign_in("admin", ADMIN_PASSWORD)
    bob_row = admin_tab.page.locator(f'tr[data-job-id="{bobs}"]')
    await expect(bob_row).to_contain_text(bob.username)
    await expect(admin_tab.page.get_by_role("columnheader", name="Owner")).to_be_visible()


async def test_cancelling_from_the_screen_stops_the_job(tab, stack, admin, make_user, llm):
    user = await make_user("user")
    sources = await make_sources(admin, stack, 3)
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=2000)
    page_tab = await tab()
    await page_tab.sign_in(user.username, "password-1")
    job_id = await discover(user, sources, max_parallel=1)
    row = page_tab.page.locator(f'tr[data-job-id="{job_id}"]')
    await row.get_by_role("button", name="Cancel").click()
    await page_tab.page.get_by_role("button", name="Yes").click()

    async def cancelled():
        return (await user.job(job_id))["status"] == "cancelled"

    await eventually(cancelled, "the job to end cancelled", within=60)
    await expect(row.get_by_test_id("job-status")).to_have_attribute("data-status", "cancelled")


async def test_an_admin_sees_services_with_their_health_and_nothing_to_cancel_them(tab, stack):
    page_tab = await tab()
    await page_tab.sign_in("admin", ADMIN_PASSWORD)
    inbox = page_tab.page.locator('[data-testid="services"] tr[data-service="tracker_inbox"]')
    await expect(inbox.get_by_test_id("service-health")).to_have_text("running")
    assert await inbox.get_by_role("button").count() == 0
    # The service is not a job: not in the jobs table, so no Cancel stops the tracker.
    await expect(page_tab.page.get_by_test_id("jobs-table")).not_to_contain_text("Tracker inbox")
    await expect(page_tab.page.get_by_role("button", name="Cancel all matching")).to_be_disabled()
    await page_tab.screenshot("jobs-admin")


async def test_a_user_is_not_offered_services_or_cancelling_many(tab, make_user):
    user = await make_user("user")
    page_tab = await tab()
    await page_tab.sign_in(user.username, "password-1")
    await expect(page_tab.page.get_by_test_id("jobs-table")).to_be_visible()
    assert await page_tab.page.get_by_test_id("services").count() == 0
    assert await page_tab.page.get_by_role("button", name="Cancel all matching").count() == 0


async def test_a_closed_job_runs_again_with_its_input_and_is_watched(tab, stack, admin, make_user):
    user = await make_user("user")
    sources = await make_sources(admin, stack, 1)
    first = await discover(user, sources)
    await user.wait_job(first)
    page_tab = await tab()
    await page_tab.sign_in(user.username, "password-1")
    await page_tab.page.locator(f'tr[data-job-id="{first}"]').get_by_role("button", name="Run again").click()
    await page_tab.page.get_by_role("button", name="Yes").click()
    panel = page_tab.page.get_by_test_id("watching").get_by_test_id("job-panel").first
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")
    again = await panel.get_attribute("data-job-id")
    assert again and again != first
    job = await user.job(again)
    assert (job["type"], job["owner"], job["result"]["drafts_created"]) == ("news_discovery", user.username, 0)


async def test_linking_telegram_shows_the_code_and_then_the_link_without_a_reload(browser, stack, make_user):
    secret = "screens-webhook-secret"
    url = stack.start_api("api-screens-telegram", LONGRUN_TELEGRAM_WEBHOOK_SECRET=secret)
    user = await make_user("user")
    page_tab = await open_tab(browser, url)
    try:
        await page_tab.sign_in(user.username, "password-1")
        loads = []
        page_tab.page.on("load", lambda _: loads.append(1))
        await page_tab.page.get_by_test_id("telegram-button").click()
        await page_tab.page.get_by_role("button", name="Link Telegram").click()
        command = await page_tab.page.get_by_test_id("telegram-command").inner_text()
        assert re.fullmatch(r"/start [A-Za-z0-9_-]{20,}", command.strip())
        telegram_id = 700_000_000 + int(time.time()) % 1_000_000
        sender = {"id": telegram_id, "is_bot": False, "first_name": "Ann", "language_code": "en"}
        update = {"update_id": telegram_id, "message": {"message_id": 1, "from": sender, "date": int(time.time()),
                  "chat": {"id": telegram_id, "type": "private"}, "text": command.strip()}}  # fmt: skip
        async with httpx.AsyncClient(base_url=url) as http:
            answer = await http.post("/webhook/telegram", json=update, headers={SECRET_HEADER: secret})
        assert answer.status_code == 200
        await expect(page_tab.page.get_by_test_id("telegram-linked")).to_contain_text(str(telegram_id))
        assert loads == []
    finally:
        await page_tab.close()
        stack.stop_named("api-screens-telegram")
