"""The WebBuddy screen in a real Chromium: a person creates a project, asks a question and watches it go queued →
in progress → done with each stage's log line arriving, without a reload, then reads the answer; a project with
queries of every status; the LLM's answer (outside text) planted hostile and shown as text; and only one's own
projects offered, as the API allows."""

import re

from playwright.async_api import expect
from sqlalchemy import text

from devstack.stack import ADMIN_PASSWORD
from tests.support.webbuddy import new_query, queued_without_workflow, wait_query

CHAT = "/v1/chat/completions"
PLANTED_TAG = "<img src=x onerror=alert(1)>"
PLANTED_LINK = "javascript:alert(1)"


async def close_notices(page) -> None:
    """The 'job finished' notices are the shell's, not this screen's: out of the screenshot (they close by
    themselves after a few seconds)."""
    await expect(page.locator(".ant-notification-notice")).to_have_count(0)


async def plant(llm, contains: str, answer: str) -> None:
    await llm.control("POST", "/_emulator/openai/plant", contains=contains, answer=answer)


async def test_a_question_is_asked_watched_through_its_stages_and_answered_without_a_reload(
    tab, stack, make_user, llm, database
):
    user = await make_user("user")
    question = "Проверьте, работает ли форма обратной связи на странице «Контакты»"
    await plant(
        llm,
        question,
        "Форма обратной связи работает: письмо уходит и приходит за 2 секунды.\n"
        "Замечание: поле «Телефон» принимает буквы. Подробнее: https://example.com/forms/contact",
    )
    page_tab = await tab()
    await page_tab.sign_in(user.username, "password-1")
    await page_tab.goto("/webbuddy")
    page = page_tab.page
    await expect(page.get_by_text("You have no projects yet")).to_be_visible()
    loads = []
    page.on("load", lambda _: loads.append(1))

    await page.get_by_role("button", name="New project").first.click()
    await page.get_by_label("Project name").fill("Сайт компании")
    await page.get_by_role("button", name="Create").click()
    await expect(page.get_by_test_id("webbuddy-project")).to_contain_text("Сайт компании")

    # The LLM answers slowly this once, so the screen shows the query being answered before it is done.
    await llm.fault(path=CHAT, kind="latency", latency_ms=8000, times=1)
    await page.get_by_label("Question").fill(question)
    await page.get_by_role("button", name="Ask", exact=True).click()

    row = page.locator("tr[data-query-id]").first
    await expect(row).to_contain_text(question[:30])
    query_id = await row.get_attribute("data-query-id")
    detail = page.locator(f'[data-testid="webbuddy-query"][data-query-id="{query_id}"]')
    await expect(row.get_by_test_id("query-status")).to_have_attribute("data-status", "in_progress")
    await expect(row.get_by_test_id("query-stage")).to_have_text("the LLM is answering…")
    await expect(detail.get_by_test_id("webbuddy-log-pending")).to_have_text("the LLM is answering…")
    await expect(detail.get_by_test_id("webbuddy-log-entry").first).to_contain_text("claimed")
    await expect(detail.get_by_test_id("webbuddy-no-answer")).to_be_visible()

    await expect(row.get_by_test_id("query-status")).to_have_attribute("data-status", "done")
    answer = detail.get_by_test_id("webbuddy-answer")
    await expect(answer).to_contain_text("Форма обратной связи работает")
    await expect(answer.get_by_role("link", name="https://example.com/forms/contact")).to_have_attribute(
        "href", "https://example.com/forms/contact"
    )
    entries = detail.get_by_test_id("webbuddy-log-entry")
    await expect(entries).to_have_count(3)
    await expect(entries.last).to_contain_text("answered")
    await expect(detail.get_by_test_id("webbuddy-log-pending")).to_have_count(0)
    assert loads == [], "the page was reloaded to show the change"

    # The same project with a query of every status: failed (the LLM refuses), in progress (it thinks for long),
    # queued (its workflow not started yet: the reconcile sweep waits 30 s for such a one).
    user.project = (await user.ok("GET", f"/api/queries/{query_id}/"))["project"]
    await llm.fault(path=CHAT, kind="status", status=400, times=1)
    refused = await new_query(user, user.project, "Переведите сайт на английский язык")
    await wait_query(user, refused["id"])
    await llm.fault(path=CHAT, kind="latency", latency_ms=45000, times=1)
    slow = await new_query(user, user.project, "Соберите список всех битых ссылок на сайте")
    await wait_query(user, slow["id"], statuses=("in_progress",))
    queued = await queued_without_workflow(database, user)
    async with database.begin() as conn:
        await conn.execute(
            text("update query set query_text = :t where id = :q"),
            {"t": "Обновите цены в каталоге по прайсу", "q": queued},
        )
    rows = page.locator("tr[data-query-id]")
    await expect(page.locator(f'tr[data-query-id="{queued}"]')).to_have_attribute("data-status", "queued")
    await expect(page.locator(f'tr[data-query-id="{refused["id"]}"]')).to_have_attribute("data-status", "failed")
    await expect(page.locator(f'tr[data-query-id="{slow["id"]}"]').get_by_test_id("query-stage")).to_be_visible()
    await expect(rows).to_have_count(4)
    assert loads == []
    await close_notices(page)
    await page_tab.screenshot("webbuddy")

    # By status: the server's filter, and a failed query's reason.
    await page.get_by_test_id("webbuddy-status-filter").get_by_text("failed").click()
    await expect(rows).to_have_count(1)
    await rows.first.click()
    failed = page.locator(f'[data-testid="webbuddy-query"][data-query-id="{refused["id"]}"]')
    await expect(failed.get_by_test_id("webbuddy-error")).to_contain_text("400")
    await close_notices(page)
    await page_tab.screenshot("webbuddy-failed")
    assert page_tab.csp_violations() == [] and page_tab.dialogs == []


async def test_a_planted_answer_is_shown_as_text_and_its_script_link_is_not_a_link(tab, make_user, llm):
    user = await make_user("user")
    project = (await user.ok("POST", "/api/projects/", 201, json={"name": PLANTED_TAG}))["id"]
    question = "Что на главной странице? <b>жирный</b>"
    await plant(
        llm,
        "Что на главной странице?",
        f"На главной: {PLANTED_TAG}\n[Открыть отчёт]({PLANTED_LINK}) или {PLANTED_LINK} и https://example.com/ok",
    )
    created = await new_query(user, project, question)
    await wait_query(user, created["id"])

    page_tab = await tab(locale="ru-RU")
    await page_tab.sign_in(user.username, "password-1")
    await page_tab.goto(f"/webbuddy?query={created['id']}")
    detail = page_tab.page.get_by_test_id("webbuddy-query")
    answer = detail.get_by_test_id("webbuddy-answer")
    await expect(answer).to_contain_text(PLANTED_TAG)
    await expect(answer).to_contain_text(f"[Открыть отчёт]({PLANTED_LINK})")
    await expect(detail.get_by_test_id("webbuddy-question")).to_have_text(question)
    row = page_tab.page.locator(f'tr[data-query-id="{created["id"]}"]')
    await expect(row).to_contain_text(PLANTED_TAG)  # the project's name, in its column
    await expect(answer.get_by_role("link")).to_have_count(1)  # only the http(s) one
    await expect(answer.get_by_role("link")).to_have_attribute("href", "https://example.com/ok")
    assert await page_tab.page.locator("[data-testid=webbuddy] img").count() == 0
    assert await page_tab.page.locator("[data-testid=webbuddy] b").count() == 0
    assert await page_tab.page.locator('a[href^="javascript"]').count() == 0
    await expect(detail).to_contain_text("Ответ")  # the page speaks the browser's language
    assert page_tab.dialogs == [] and page_tab.csp_violations() == []


async def test_a_user_is_offered_only_their_own_projects_and_an_admin_sees_whose_each_is(tab, make_user):
    ann, bob = await make_user("user"), await make_user("user")
    anns = (await ann.ok("POST", "/api/projects/", 201, json={"name": "Ann's shop"}))["id"]
    await bob.ok("POST", "/api/projects/", 201, json={"name": "Bob's blog"})
    anns_query = await new_query(ann, anns, "Ann's question")
    # What the screen does not offer Bob, the API refuses him.
    refused = await bob.http.post("/api/queries/", json={"project": anns, "query_text": "let me in"})
    assert refused.status_code == 422

    bob_tab = await tab()
    await bob_tab.sign_in(bob.username, "password-1")
    await bob_tab.goto("/webbuddy")
    await bob_tab.page.get_by_test_id("webbuddy-project").click()
    options = bob_tab.page.locator(".ant-select-item-option")
    await expect(options.filter(has_text="Bob's blog")).to_be_visible()
    await expect(options.filter(has_text="Ann's shop")).to_have_count(0)
    await bob_tab.page.keyboard.press("Escape")
    assert await bob_tab.page.locator(f'tr[data-query-id="{anns_query["id"]}"]').count() == 0
    assert await bob_tab.page.get_by_role("columnheader", name="User").count() == 0
    # Nor can he open her query by its address.
    await bob_tab.goto(f"/webbuddy?query={anns_query['id']}")
    await expect(bob_tab.page.get_by_test_id("webbuddy-query")).to_contain_text(f"query {anns_query['id']} not found")

    admin_tab = await tab()
    await admin_tab.sign_in("admin", ADMIN_PASSWORD)
    await admin_tab.goto("/webbuddy")
    ann_row = admin_tab.page.locator(f'tr[data-query-id="{anns_query["id"]}"]')
    await expect(ann_row).to_contain_text(re.compile(r"Ann's shop \(user #\d+\)"))
    await expect(admin_tab.page.get_by_role("columnheader", name="User")).to_be_visible()
