"""The tracker screen's analysis, experiments and settings tabs in a real Chromium on the real stack: a manager starts
an analysis run, watches it to its end without a reload and reviews its proposals, with the LLM's words and the
Telegram messages they came from shown as text; a chat's extraction started by hand and an experiment over the
emulators' messages, read as a confusion matrix with its mistakes; an admin's agent configs and LLM providers (a
key named, never shown), which a manager is not offered."""

import random
import re

from playwright.async_api import Page, expect
from sqlalchemy import text

from devstack.stack import ADMIN_PASSWORD
from emulators import telegram_bot_data
from tests.support.tracker import ensure_extractor, seed_messages, unique_word, window

IMG = "<img src=x onerror=alert(1)>"
JS_LINK = "[details](javascript:alert(1))"


async def plant(llm, contains: str, *proposals: dict) -> None:
    await llm.control("POST", "/_emulator/openai/plant", contains=contains, answer={"proposals": list(proposals)})


async def fill_range(page: Page, start_id: str, end_id: str, start: str, end: str) -> None:
    """An antd range picker typed into as a person would: each end, then Enter."""
    for input_id, value in ((start_id, start), (end_id, end)):
        field = page.locator(f"#{input_id}")
        await field.click()
        await field.fill(value)
        await field.press("Enter")
    await expect(page.locator(f"#{start_id}")).to_have_value(start)
    await expect(page.locator(f"#{end_id}")).to_have_value(end)


async def quiet(page: Page) -> None:
    """The notices and toasts gone (they close by themselves), so a screenshot shows the screen itself."""
    await expect(page.locator(".ant-notification-notice")).to_have_count(0)
    await expect(page.locator(".ant-message-notice")).to_have_count(0)


async def open_tab(page: Page, name: str) -> None:
    await page.get_by_role("tab", name=name, exact=True).click()


async def test_a_manager_runs_an_analysis_watches_it_live_and_reviews_its_proposals(
    tab, stack, database, make_user, llm
):
    manager = await make_user("manager")
    word = unique_word()
    start, end = window()
    texts = [
        f"@anna please fix the {word} billing export before Friday {IMG} {JS_LINK}",
        "ok",
        f"The {word} billing export crashed again this morning, we need a fix",
        "Lunch was great today with the whole team, see you",
        f"Can you review the {word} invoice totals for March",
    ]
    ids = await seed_messages(database, -random.randrange(10**9), start, texts)
    # Batch 0 holds messages 1 and 3, batch 1 message 5 (the prefilter drops 2 and 4): one answer planted for each.
    hostile = f"Fix the {word} export {IMG}"
    billing = {"title": hostile, "description": f"Stream the rows in pages. {JS_LINK}", "priority": "high",
               "confidence": 0.92, "messages": [{"index": 1}, {"index": 2}]}  # fmt: skip
    invoices = {"title": f"Review the {word} March invoice totals", "priority": "medium", "confidence": 0.61,
                "description": "Check the totals against the bank statement.", "messages": [{"index": 1}]}  # fmt: skip
    await plant(llm, "billing export", billing)
    await plant(llm, "invoice totals", invoices)
    # The LLM answers slowly until the screen has shown the run running.
    await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=1500)

    page_tab = await tab()
    page = page_tab.page
    await page_tab.sign_in(manager.username, "password-1")
    await page_tab.goto("/tracker?tab=analysis")
    loads = []
    page.on("load", lambda _: loads.append(1))
    runs_before = {r["id"] for r in await manager.ok("GET", "/api/v1/runs", params={"limit": 200})}
    form = page.get_by_test_id("start-run")
    # Enter confirms each end of the window and starts nothing.
    await fill_range(
        page, "run-window-start", "run-window-end", start.strftime("%Y-%m-%d %H:%M"), end.strftime("%Y-%m-%d %H:%M")
    )
    await form.get_by_label("Batch size").fill("2")
    await form.get_by_role("button", name="Start run").click()

    detail = page.get_by_test_id("run-detail")
    await expect(detail.get_by_test_id("job-status")).to_have_attribute("data-status", "running")
    await llm.clear_faults()
    await expect(detail.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")
    run_id = int(await detail.get_attribute("data-run-id"))
    runs_after = {r["id"] for r in await manager.ok("GET", "/api/v1/runs", params={"limit": 200})}
    assert runs_after - runs_before == {run_id}
    proposals = detail.get_by_test_id("proposals").locator("tr[data-proposal-id]")
    await expect(proposals).to_have_count(2)  # arrived while the page stayed loaded
    await expect(detail.get_by_test_id("run-messages")).to_have_text("5 in the window, 3 after the filter")
    assert loads == [], "the page was reloaded to show the run's progress"

    # The LLM's title and description are shown as written; the message they came from too.
    first = proposals.filter(has_text=hostile)
    await expect(first.get_by_test_id("proposal-title")).to_have_text(hostile)
    await expect(first.get_by_test_id("proposal-description")).to_contain_text(JS_LINK)
    await expect(first.get_by_test_id("proposal-confidence")).to_have_text("92%")
    await first.get_by_role("button", name=re.compile("Expand row")).click()
    sources = detail.get_by_test_id("source-messages")
    await expect(sources.locator("[data-message-id]")).to_have_count(2)
    await expect(sources.locator(f'[data-message-id="{ids[0]}"]')).to_contain_text(texts[0])
    await expect(sources.locator(f'[data-message-id="{ids[2]}"]')).to_contain_text(texts[2])
    assert await detail.locator("img").count() == 0
    assert await page.locator('a[href^="javascript"]').count() == 0

    await quiet(page)
    await page_tab.screenshot("tracker-analysis")

    second = proposals.filter(has_text="March invoice totals")
    await first.get_by_role("button", name="Approve").click()
    await second.get_by_role("button", name="Reject").click()
    await expect(first.get_by_test_id("proposal-status")).to_have_text("approved")
    await expect(second.get_by_test_id("proposal-status")).to_have_text("rejected")
    stored = await manager.ok("GET", f"/api/v1/runs/{run_id}")
    assert sorted((p["title"], p["status"]) for p in stored["proposals"]) == sorted(
        [(hostile, "approved"), (f"Review the {word} March invoice totals", "rejected")]
    )
    assert page_tab.dialogs == [] and page_tab.csp_violations() == []


async def test_an_experiment_over_the_emulators_messages_shows_its_accuracy_and_mistakes(
    tab, database, admin, make_user, llm
):
    manager = await make_user("manager")
    await ensure_extractor(database)
    chat = -random.randrange(10**9, 10**12)
    count = 60
    texts = [u["message"]["text"] for u in telegram_bot_data.message_updates(count, chat_id=chat)]
    start, _ = window()
    await seed_messages(database, chat, start, texts)

    page_tab = await tab()
    page = page_tab.page
    await page_tab.sign_in(manager.username, "password-1")
    await page_tab.goto("/tracker?tab=analysis")
    # The chat's extraction by hand: topics for its messages, which the experiment then classifies again.
    extraction = page.get_by_test_id("start-extraction")
    await extraction.get_by_label("Telegram chat id").fill(str(chat))
    await extraction.get_by_role("button", name="Extract").click()
    panel = extraction.get_by_test_id("job-panel")
    await expect(panel).to_have_attribute("data-job-id", f"tracker-extract-chat-{chat}")
    # 60 messages through the LLM on a shared machine may outlast the page's deadline: wait on the job itself.
    assert (await manager.wait_job(f"tracker-extract-chat-{chat}", within=180))["status"] == "completed"
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")
    async with database.connect() as conn:
        topics = await conn.scalar(
            text("SELECT count(*) FROM message WHERE telegram_chat_id = :c AND topic_id IS NOT NULL"), {"c": chat}
        )
    assert topics == count

    await open_tab(page, "Experiments")
    loads = []
    page.on("load", lambda _: loads.append(1))
    form = page.get_by_test_id("start-experiment")
    await form.get_by_label("Messages").fill(str(count))
    await form.get_by_label("Only this chat (id)").fill(str(chat))
    await form.get_by_role("button", name="Start experiment").click()
    detail = page.get_by_test_id("experiment-detail")
    await expect(detail.get_by_test_id("job-panel")).to_be_visible()
    experiment_id = int(await detail.get_attribute("data-experiment-id"))
    assert (await manager.wait_job(f"tracker-experiment-{experiment_id}", within=180))["status"] == "completed"
    await expect(detail.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")
    stored = await manager.ok("GET", f"/api/v1/experiments/{experiment_id}")
    assert 0.5 < stored["accuracy"] < 1.0

    await expect(detail.get_by_test_id("experiment-accuracy")).to_contain_text(f"{stored['accuracy'] * 100:.1f}")
    matrix = detail.get_by_test_id("confusion-matrix")
    misses = [
        (actual, predicted, n)
        for actual, row in stored["confusion_matrix"].items()
        for predicted, n in row.items()
        if predicted != actual
    ]
    assert misses
    await expect(matrix.locator('td[data-kind="miss"]')).to_have_count(len(misses))
    for actual, predicted, n in misses:
        cell = matrix.locator(f'td[data-kind="miss"][data-actual="{actual}"][data-predicted="{predicted}"]')
        await expect(cell).to_have_text(str(n))
    hits = sum(row.get(actual, 0) for actual, row in stored["confusion_matrix"].items())
    assert hits == stored["correct"]
    await expect(detail.get_by_test_id("mistakes")).to_contain_text(
        f"Mistakes ({stored['classified'] - stored['correct']})"
    )
    assert loads == []
    await quiet(page)
    await page_tab.screenshot("tracker-experiment")
    assert page_tab.dialogs == [] and page_tab.csp_violations() == []


async def test_an_admin_configures_agents_and_providers_and_a_manager_is_not_offered_them(tab, admin, make_user):
    name = f"backup-{unique_word()}"
    admin_tab = await tab()
    page = admin_tab.page
    await admin_tab.sign_in("admin", ADMIN_PASSWORD)
    await admin_tab.goto("/tracker?tab=settings")
    agents = page.get_by_test_id("agents")
    for role in ("knowledge extraction", "task proposals", "topic classification"):
        await expect(agents.get_by_text(role, exact=True).first).to_be_visible()

    providers = page.get_by_test_id("providers")
    await providers.get_by_role("button", name="New provider").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Name").fill(name)
    await dialog.get_by_label("Base URL (OpenAI-compatible)").fill("https://llm.example.com/v1")
    await dialog.get_by_label("Chat model").fill("gpt-4o-mini")
    await dialog.get_by_label("Embedding model").fill("text-embedding-3-small")
    await dialog.get_by_label("Environment variable with the API key").fill("LONGRUN_LLM_KEY_BACKUP")
    await dialog.get_by_role("switch").click()  # added switched off: the default provider stays the one in use
    await dialog.get_by_role("button", name="Save").click()
    row = providers.locator("tr[data-provider-id]", has_text=name)
    await expect(row.get_by_test_id("provider-key")).to_have_text("read from $LONGRUN_LLM_KEY_BACKUP")
    # No key is ever asked for or shown: the API stores the variable's name only.
    assert await page.locator('input[type="password"]').count() == 0
    [stored] = [p for p in await admin.ok("GET", "/api/v1/providers") if p["name"] == name]
    assert (stored["api_key_env"], stored["active"]) == ("LONGRUN_LLM_KEY_BACKUP", False)

    # An env name that is no variable is refused before it is sent, in the user's words.
    await row.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Environment variable with the API key").fill("sk-live key")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.get_by_text("A variable name: letters, digits and _")).to_be_visible()
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await quiet(page)
    await admin_tab.screenshot("tracker-settings")
    assert admin_tab.csp_violations() == []

    # A manager runs and reviews but is not offered the settings, which the API refuses them.
    manager = await make_user("manager")
    manager_tab = await tab()
    await manager_tab.sign_in(manager.username, "password-1")
    await manager_tab.goto("/tracker?tab=settings")
    await expect(manager_tab.page.get_by_role("tab", name="Analysis", exact=True)).to_be_visible()
    assert await manager_tab.page.get_by_role("tab", name="Agents and providers").count() == 0
    assert await manager_tab.page.get_by_test_id("providers").count() == 0
    await manager.ok("PATCH", f"/api/v1/providers/{stored['id']}", 403, json={"active": True})
    # A user reads the tracker but is offered no analysis, experiment or settings.
    user = await make_user("user")
    user_tab = await tab()
    await user_tab.sign_in(user.username, "password-1")
    await user_tab.goto("/tracker?tab=analysis")
    await expect(user_tab.page.get_by_role("tab").first).to_be_visible()
    for name_ in ("Analysis", "Experiments", "Agents and providers"):
        assert await user_tab.page.get_by_role("tab", name=name_, exact=True).count() == 0
    assert await user_tab.page.get_by_test_id("start-run").count() == 0
    await user.ok("POST", "/api/v1/runs", 403, json={"time_window_start": "2001-01-01T00:00:00Z",
                                                    "time_window_end": "2001-01-02T00:00:00Z"})  # fmt: skip
    await admin.ok("DELETE", f"/api/v1/providers/{stored['id']}", 204)
