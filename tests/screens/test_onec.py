"""The 1C screen in a real Chromium: a manager syncs a period in the 1C front end's SyncModal, follows it in its
TaskProgress through the classification (the phase in Russian), and sees the rows arrive without a reload, with 1C's
planted markup shown as text; a retrying sync shows as `running` with what is going on (the 1C components know five
statuses); rules are added and put in order and a transaction given a category by hand; a user reads only."""

import re

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import text

from tests.support.browser import SCREENSHOTS
from tests.support.onec import PERIOD, sync

BANK = "/api/v1/sync-1c/bank-transactions"
RULES = "/api/v1/sync-1c/rules"
BOOK = {"seed": 11, "documents": 300, "contractors": 60, "folders": 3, "pending_contractors": 0}
PLANTED_NAME = 'ООО «<img src=x onerror="alert(1)">» javascript:alert(1)'
PLANTED_PURPOSE = "<img src=x onerror=alert(1)> оплата по счёту, см. javascript:alert(1)"
FIVE = {"pending", "running", "completed", "failed", "cancelled"}


@pytest.fixture
async def book(database, onec):
    """Empty books, and a 1C book whose newest document names a contractor, and says a purpose, with markup in them."""
    async with database.begin() as conn:
        await conn.execute(text("truncate bank_transaction, contractor, onec_sync_page, classification_rule"))
    await onec.book(**BOOK)
    planted = {"Description": PLANTED_NAME, "IsFolder": False}
    [contractor] = (
        await onec.control("POST", "/_emulator/book/change", entity="contractors", count=1, fields=planted)
    )["changed"]
    [newest] = (await onec.control("POST", "/_emulator/book/insert", count=1, date="2024-12-31T23:59:00"))["inserted"]
    await onec.control("POST", "/_emulator/book/change", ref_keys=[newest],
                       fields={"НазначениеПлатежа": PLANTED_PURPOSE, "Контрагент": contractor})  # fmt: skip
    return {"contractor": contractor, "newest": newest}


async def pick_period(page: Page, date_from: str, date_to: str) -> None:
    inputs = page.get_by_test_id("sync-modal").locator(".ant-picker input")
    await inputs.nth(0).click()
    await inputs.nth(0).fill(date_from)
    await inputs.nth(0).press("Enter")
    await inputs.nth(1).fill(date_to)
    await inputs.nth(1).press("Enter")
    await expect(inputs.nth(0)).to_have_value(date_from)
    await expect(inputs.nth(1)).to_have_value(date_to)


async def assert_inert(tab, region) -> None:
    assert await region.locator("img").count() == 0
    assert await region.locator('a[href^="javascript"]').count() == 0
    assert tab.dialogs == [] and tab.csp_violations() == []


async def test_a_manager_syncs_follows_the_classification_and_sees_the_rows_arrive(tab, make_user, book, llm):
    manager = await make_user("manager")
    # The LLM answers slowly, so the classification phase lasts long enough to be seen.
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=1500)
    page_tab = await tab(locale="ru-RU")
    await page_tab.sign_in(manager.username, "password-1")
    await page_tab.goto("/1c")
    page = page_tab.page
    table = page.get_by_test_id("transactions-table")
    await expect(table).to_contain_text("Нет подходящих транзакций")
    loads = []
    page.on("load", lambda _: loads.append(1))

    await page.get_by_test_id("onec-sync-open").click()
    await pick_period(page, PERIOD["date_from"], PERIOD["date_to"])
    await expect(page.get_by_test_id("sync-modal").get_by_role("checkbox")).to_be_checked()
    await page.get_by_test_id("sync-start").click()

    progress = page.get_by_test_id("task-progress")
    phase = progress.get_by_test_id("task-phase")
    await expect(phase).to_have_attribute("data-phase", "classifying")
    await expect(phase).to_contain_text(re.compile(r"Классификация: \d+ из \d+"))
    assert await progress.get_attribute("data-status") == "running"
    assert float(await progress.get_by_test_id("task-percent").get_attribute("data-percent")) < 100
    # Transitions finished: the bar drawn where the progress is, not mid-animation from 0.
    await page.screenshot(path=str(SCREENSHOTS / "onec-sync.png"), full_page=True, animations="disabled")

    await llm.clear_faults()
    await expect(progress).to_have_attribute("data-status", "completed")
    await expect(progress.get_by_test_id("task-result")).to_contain_text("Загружено")
    await page.get_by_test_id("task-close").click()
    await page.get_by_test_id("sync-close").click()

    # The rows the sync wrote, without a reload: the newest first, with 1C's planted markup as text.
    first = table.locator(f'tr[data-ref-key="{book["newest"]}"]')
    await expect(first.get_by_test_id("purpose-cell")).to_contain_text(PLANTED_PURPOSE)
    await expect(first.get_by_test_id("contractor-cell")).to_contain_text(PLANTED_NAME)
    await expect(first.get_by_test_id("category-source")).to_be_visible()  # classified by the LLM
    await expect(page.get_by_test_id("last-sync-bank-transactions")).to_contain_text("завершена")
    await assert_inert(page_tab, table)
    assert loads == [], "the page was reloaded to show the rows"
    await page.locator(".ant-notification-notice").first.wait_for(state="detached")
    await page_tab.screenshot("onec-transactions")

    # Filters go to the server: outgoing only, then the planted contractor's (found by name) transactions.
    await page.get_by_test_id("filter-direction").click()
    await page.get_by_title("Списание").click()
    await expect(table.locator("tbody tr").first).to_contain_text("Списание")
    # Waited on, not counted at once: the rows of the unfiltered page stay until the filtered ones arrive.
    await expect(table.get_by_text("Поступление")).to_have_count(0)


async def test_a_retrying_sync_shows_running_with_what_is_going_on(tab, make_user, book, onec):
    manager = await make_user("manager")
    # 1C is down: the sync's first step is retried with backoff for as long as it lasts.
    await onec.fault(path="/odata/standard.odata", kind="status", status=503)
    page_tab = await tab()
    await page_tab.sign_in(manager.username, "password-1")
    await page_tab.goto("/1c")
    page = page_tab.page
    await page.get_by_test_id("onec-sync-open").click()
    await page.get_by_test_id("sync-modal").get_by_role("tab", name="Contractors").click()
    await page.get_by_test_id("sync-start").click()
    progress = page.get_by_test_id("task-progress")
    await expect(progress.get_by_test_id("task-message")).to_contain_text("retrying")
    assert await progress.get_attribute("data-status") == "running"
    status = (
        await page.get_by_role("dialog").filter(has=progress).get_by_test_id("task-status").get_attribute("data-status")
    )
    assert status == "running" and status in FIVE  # never paused, cancelling or retrying

    await onec.clear_faults()
    await expect(progress).to_have_attribute("data-status", "completed")
    assert page_tab.csp_violations() == []


async def test_rules_are_added_and_ordered_and_a_category_is_set_by_hand(tab, make_user, book, admin):
    manager = await make_user("manager")
    await sync(admin, "contractors")
    await sync(admin, "bank-transactions", **PERIOD)
    page_tab = await tab(locale="ru-RU")
    await page_tab.sign_in(manager.username, "password-1")
    await page_tab.goto("/1c?tab=rules")
    page = page_tab.page

    for category, purpose in (("Аренда", "аренд"), ("Банковские комиссии", "комисси")):
        await page.get_by_test_id("rule-add").click()
        form = page.get_by_test_id("rule-form")
        await form.get_by_test_id("rule-category").locator("input").fill(category)
        await form.get_by_test_id("rule-purpose").fill(purpose)
        await page.get_by_role("button", name="Сохранить").click()
        await expect(page.get_by_test_id("rules-table")).to_contain_text(category)
    rules = page.get_by_test_id("rules-table").locator("tbody tr")
    await expect(rules).to_have_count(2)
    await rules.nth(1).get_by_test_id("rule-up").click()
    await expect(rules.nth(0)).to_contain_text("Банковские комиссии")
    ordered = await manager.ok("GET", RULES)
    assert [(r["category"], r["priority"]) for r in ordered] == [("Банковские комиссии", 10), ("Аренда", 20)]
    await page.locator(".ant-message-notice").first.wait_for(state="detached")  # the toasts gone: the rules in view
    await page_tab.screenshot("onec-rules")

    # A person's category on a transaction.
    await page.get_by_role("tab", name="Транзакции").click()
    row = page.get_by_test_id("transactions-table").locator(f'tr[data-ref-key="{book["newest"]}"]')
    await row.get_by_test_id("category-select").click()
    await page.get_by_title("Прочее", exact=True).click()
    await expect(row.get_by_test_id("category-source")).to_have_text("вручную")
    chosen = await manager.ok("GET", BANK, params={"category": "Прочее", "limit": 100})
    assert book["newest"] in {t["ref_key"] for t in chosen["items"]}
    assert next(t for t in chosen["items"] if t["ref_key"] == book["newest"])["category_source"] == "manual"
    assert page_tab.csp_violations() == [] and page_tab.dialogs == []


async def test_a_user_reads_the_books_and_is_offered_no_sync_or_edit(tab, make_user, book, admin):
    await sync(admin, "bank-transactions", **PERIOD)
    await admin.ok("POST", RULES, 201, json={"category": "Аренда", "purpose_contains": "аренд"})
    user = await make_user("user")
    page_tab = await tab()
    await page_tab.sign_in(user.username, "password-1")
    await page_tab.goto("/1c")
    page = page_tab.page
    row = page.get_by_test_id("transactions-table").locator(f'tr[data-ref-key="{book["newest"]}"]')
    await expect(row.get_by_test_id("purpose-cell")).to_contain_text(PLANTED_PURPOSE)
    await expect(page.get_by_test_id("onec-sync-open")).to_be_disabled()
    assert await page.get_by_test_id("category-select").count() == 0  # the API answers a user's PATCH 403
    refused = await user.http.patch(f"{BANK}/{book['newest']}", json={"category": "x"})
    assert refused.status_code == 403

    await page.get_by_role("tab", name="Classification rules").click()
    await expect(page.get_by_test_id("rules-table")).to_contain_text("Аренда")
    await expect(page.get_by_test_id("rule-add")).to_be_disabled()
    assert await page.get_by_test_id("rule-up").count() == 0
    await page.get_by_role("tab", name="Schedules").click()
    toggles = page.get_by_test_id("schedules-table").get_by_test_id("schedule-toggle")
    await expect(toggles.first).to_be_disabled()
    await assert_inert(page_tab, page.get_by_test_id("onec-screen"))
