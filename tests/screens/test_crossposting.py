"""The crossposting screen in a real Chromium, on the session's stack (MAX at its real limits: 2 messages/s into a
chat): channels made on the screen (an export picked from the exports directory, a MAX token that is never shown
back), a link, a migration started, paused, resumed and watched to its end with its counts and rate and its log
rows arriving without a reload; a failed post's error and text in the log filtered by status, retried from the
screen; outside text (an export's channel name, a post's text and link, MAX's error) shown as text; and a user, who
may only read, offered nothing that writes."""

import json
import re

from playwright.async_api import expect

from devstack.stack import ADMIN_PASSWORD
from tests.support.browser import choose
from tests.support.crossposting import export_of, make_link, unique

PLANTED = '<img src=x onerror="alert(document.domain)">'
PLANTED_LINK = "javascript:alert(1)"
SLOW = 120_000  # a whole migration at MAX's 2 messages/s into one chat


def exports(stack):
    return stack.data_dir / "exports"


def hostile_export(stack):
    """A Desktop export whose channel name and first post carry markup and a javascript: link."""
    folder = export_of("gen_12_s3", exports(stack))
    result = folder / "result.json"
    data = json.loads(result.read_text())
    data["name"] = f"Hostile {PLANTED}"
    first = next(m for m in data["messages"] if m["type"] == "message")
    keep = {k: first[k] for k in ("id", "type", "date", "date_unixtime", "from", "from_id")}
    parts = [f"Breaking {PLANTED} read ", {"type": "text_link", "text": "here", "href": PLANTED_LINK}]
    first.clear()
    first.update(keep, text=parts, text_entities=[{"type": "plain", "text": parts[0]}, parts[1]])
    result.write_text(json.dumps(data, ensure_ascii=False))
    return folder, first["id"]


async def pick(page, label: str, option_title: str) -> None:
    await choose(page, page.get_by_role("dialog").get_by_label(label, exact=True), option_title)


async def test_a_manager_sets_up_a_link_and_watches_its_migration_live_through_pause_and_resume(
    tab, stack, make_user, max_emulator
):
    manager = await make_user("manager")
    folder = export_of("gen_30_s4", exports(stack))
    n, token = unique(), f"bot-{unique()}-0123456789abcdef"
    t = await tab()
    await t.sign_in(manager.username, "password-1")
    page = t.page
    loads = []
    page.on("load", lambda _: loads.append(1))

    # A Telegram channel from an export picked in the list, not a typed path.
    await t.goto("/crossposting?tab=telegram")
    loads.clear()
    await page.get_by_role("button", name="Add Telegram channel").click()
    await page.get_by_role("dialog").get_by_label("Title").fill(f"News export {n}")
    await page.get_by_role("dialog").get_by_text("Desktop export").click()
    await pick(page, "Export", folder.name)
    await expect(page.get_by_test_id("xpost-export-summary")).to_contain_text("Longrun gen_30_s4")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_test_id("xpost-telegram-table")).to_contain_text(f"News export {n}")

    # A MAX channel: the token goes in, only its hint comes back.
    await page.get_by_role("tab", name="MAX channels").click()
    await page.get_by_role("button", name="Add MAX channel").click()
    await page.get_by_role("dialog").get_by_label("Title").fill(f"MAX news {n}")
    await page.get_by_role("dialog").get_by_label("Chat id").fill(str(7_000 + n))
    await page.get_by_role("dialog").get_by_label("Bot token").fill(token)
    await page.get_by_role("button", name="Save").click()
    table = page.get_by_test_id("xpost-max-table")
    await expect(
        table.get_by_role("row", name=re.compile(f"MAX news {n}")).get_by_test_id("xpost-token-hint")
    ).to_have_text("…" + token[-4:])
    assert token not in await page.content()

    await page.get_by_role("tab", name="Links and migrations").click()
    await page.get_by_role("button", name="Add link").click()
    await pick(page, "Telegram channel", f"News export {n}")
    await pick(page, "MAX channel", f"MAX news {n}")
    await page.get_by_role("button", name="Save").click()
    row = page.get_by_test_id("xpost-links").get_by_role("row", name=re.compile(f"News export {n}"))
    link_id = await row.get_attribute("data-link-id")
    await row.get_by_role("button", name="Open").click()
    await expect(page.get_by_test_id("xpost-no-job")).to_be_visible()
    await expect(page.get_by_test_id("xpost-log")).to_contain_text("Nothing in the log yet")

    await page.get_by_role("button", name="Start migration").click()
    panel = page.get_by_test_id("job-panel")
    status = panel.get_by_test_id("job-status")
    await expect(status).to_have_attribute("data-status", "running")
    # Published rows counted live, and a rate against MAX's limit, while the job runs.
    await expect(page.get_by_test_id("xpost-counts")).to_have_attribute("data-success", re.compile(r"^[1-9]"))
    await expect(page.get_by_test_id("xpost-rate")).to_have_attribute("data-rate", re.compile(r"^(0\.0*[1-9]|[1-9])"))
    await expect(page.get_by_test_id("xpost-log-table").locator('tr[data-status="success"]').first).to_be_visible()

    await page.get_by_role("button", name="Pause").click()
    await expect(status).to_have_attribute("data-status", "paused")
    await page.get_by_role("button", name="Resume").click()
    await expect(status).to_have_attribute("data-status", "completed", timeout=SLOW)
    await expect(row.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")
    counts = page.get_by_test_id("xpost-counts")
    await expect(counts).to_have_attribute("data-pending", "0")
    await expect(counts).to_have_attribute("data-failed", "0")
    assert loads == [], "the page was reloaded to show the change"
    await expect(page.get_by_text(f"Channel migration finished: migration-link-{link_id}")).to_be_visible()
    await page.locator(".ant-notification-notice-close").click()
    await expect(page.locator(".ant-notification-notice")).to_have_count(0)
    await t.screenshot("crossposting")
    assert t.csp_violations() == [] and t.dialogs == []


async def test_a_failure_is_read_in_the_log_by_status_and_retried_and_outside_text_stays_text(
    tab, stack, admin, max_emulator
):
    folder, planted_id = hostile_export(stack)
    link = await make_link(admin, chat="", max_chat=7_000 + unique(), token=f"bot-{unique()}", export_path=folder)
    # MAX refuses the first post (the planted one), in words that are themselves markup.
    refusal = {"code": "bad.request", "message": f"text refused: {PLANTED}"}
    await max_emulator.fault(path="/messages", kind="status", status=400, times=1, body=refusal)
    job_id = (await admin.ok("POST", "/api/v1/migrations", 202, json={"link_id": link["id"]}))["job_id"]
    snap = await admin.wait_job(job_id, within=120)
    assert snap["status"] == "completed" and snap["failed"] == 1

    t = await tab()
    await t.sign_in("admin", ADMIN_PASSWORD)
    page = t.page
    await t.goto(f"/crossposting?link={link['id']}")
    log = page.get_by_test_id("xpost-log")
    await log.get_by_test_id("xpost-log-filter").get_by_text("failed (1)").click()
    await expect(log.locator("tr[data-message-id]")).to_have_count(1)
    failed_row = log.locator(f'tr[data-message-id="{planted_id}"]')
    await expect(failed_row.get_by_test_id("xpost-log-error")).to_contain_text(f"text refused: {PLANTED}")
    await expect(failed_row.get_by_test_id("xpost-log-text")).to_contain_text(f"Breaking {PLANTED} read here")
    await expect(log.locator(".ant-segmented-thumb")).to_have_count(0)  # the filter's switch has settled
    await t.screenshot("crossposting-log")

    # Outside text is text: no element made of it, no javascript: link, nothing ran.
    assert await page.locator(".shell-content img").count() == 0
    assert await page.locator('a[href^="javascript"]').count() == 0

    loads = []
    page.on("load", lambda _: loads.append(1))
    await page.get_by_role("button", name="Retry failed (1)").click()
    await page.get_by_role("button", name="Yes").click()
    # The retry job runs and ends; the failed row leaves the filtered log and the counts follow, without a reload.
    await expect(log.locator("tr[data-message-id]")).to_have_count(0, timeout=SLOW)
    await expect(page.get_by_test_id("xpost-counts")).to_have_attribute("data-failed", "0")
    await log.get_by_test_id("xpost-log-filter").get_by_text("published").click()
    await expect(log.locator(f'tr[data-message-id="{planted_id}"]')).to_have_attribute("data-status", "success")
    assert loads == []

    # The export picker shows the planted channel name as text too.
    await t.goto("/crossposting?tab=telegram")
    await page.get_by_role("button", name="Add Telegram channel").click()
    await page.get_by_role("dialog").get_by_text("Desktop export").click()
    await page.get_by_role("dialog").get_by_label("Export", exact=True).click()
    option = page.locator(f'.ant-select-dropdown:visible .ant-select-item-option[title="{folder.name}"]')
    await expect(option).to_contain_text(f"Hostile {PLANTED}")
    assert await page.locator(".ant-select-dropdown img").count() == 0
    assert t.dialogs == [] and t.csp_violations() == []


async def test_a_user_reads_links_and_the_log_but_is_offered_nothing_that_writes(tab, stack, admin, make_user):
    user = await make_user("user")
    link = await make_link(admin, chat="gen_12_s3", max_chat=7_000 + unique(), token=f"bot-{unique()}-0123456789abcdef")
    t = await tab()
    await t.sign_in(user.username, "password-1")
    page = t.page
    await t.goto(f"/crossposting?link={link['id']}")
    await expect(page.get_by_test_id("xpost-migration")).to_contain_text("The user role can watch migrations")
    await expect(page.get_by_test_id("xpost-log")).to_be_visible()
    for name in ("Add link", "Start migration", "Delete"):
        assert await page.get_by_role("button", name=name).count() == 0, name
    assert await page.get_by_role("button", name=re.compile("Retry failed")).count() == 0
    assert await page.get_by_role("switch").count() == 0
    await page.get_by_role("tab", name="Telegram channels").click()
    await expect(page.get_by_test_id("xpost-telegram-table")).to_be_visible()
    assert await page.get_by_role("button", name="Add Telegram channel").count() == 0
    # What the screen does not offer, the API refuses.
    refused = await user.http.post("/api/v1/migrations", json={"link_id": link["id"]})
    assert refused.status_code == 403
    assert (await user.http.post(f"/api/v1/migrations/{link['id']}/pause")).status_code == 403
    assert t.csp_violations() == []
