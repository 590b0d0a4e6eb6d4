"""The tracker screen's messages, topics and atoms, search and ingestion tabs in a real Chromium: messages arriving
through the bot's webhook show up live with their author's avatar, linked Longrun user and score, and an edit in
Telegram changes the row in place; planted markup in a message and an author's name stays text; topics show their
atoms and the messages they came from; search finds both by meaning; a manager imports a chat's history and
watches it finish, and a failed import is a notice wherever in the tracker they are; a plain user is offered no
import, which the API refuses too."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from tests.support.browser import choose
from tests.support.tracker import seed_messages, unique_word
from tests.support.tracker_live import (
    author,
    avatar_checked,
    hook,
    message,
    new_ids,
    stored_message,
    user_with_photo,
    webhook_api,
)

PLANTED = '<img src=x onerror="alert(document.domain)"> see javascript:alert(1)'
PLANTED_NAME = "<img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def webhook_url(stack):
    with webhook_api(stack, "api-tracker-screen") as url:
        yield url


async def assert_inert(page_tab, region) -> None:
    """Planted markup shown as text: no element made of it, nothing ran, no javascript: link anywhere."""
    assert await region.locator("img").count() == 0
    assert await page_tab.page.locator('a[href^="javascript"]').count() == 0
    assert page_tab.dialogs == [] and page_tab.csp_violations() == []


async def test_messages_arrive_live_with_avatar_linked_user_and_score_and_an_edit_changes_the_row_in_place(
    tab, stack, admin, make_user, database, telegram_bot, webhook_url
):
    reader = await make_user("user")
    linked = await make_user("manager")
    await hook(telegram_bot, webhook_url)
    chat, base = new_ids()
    olena, taras = await user_with_photo(telegram_bot), await user_with_photo(telegram_bot)
    async with database.begin() as conn:  # as `/start <code>` to the bot would (docs/jobs.md)
        await conn.execute(
            text("UPDATE users SET telegram_user_id = :t WHERE username = :u"), {"t": olena, "u": linked.username}
        )
    now = int(datetime.now(UTC).timestamp())
    first = [
        message(chat, 1, author(olena, "Олена", "olena_k", "Коваль"),
                "Експорт рахунків у 1С знову падає з помилкою таймауту, треба полагодити до п'ятниці", now - 300),
        message(chat, 2, author(taras, PLANTED_NAME), PLANTED, now - 240),
        message(chat, 3, author(olena, "Олена", "olena_k", "Коваль"), "ок", now - 200),
        message(chat, 4, author(taras, PLANTED_NAME),
                "Давайте на созвоне в четверг решим, кто берёт миграцию базы и когда релиз", now - 120),
    ]  # fmt: skip

    page_tab = await tab()
    await page_tab.sign_in(reader.username, "password-1")
    # The chat's own view: other tests' messages (dated anywhere in three centuries) never push these off its page.
    await page_tab.goto(f"/tracker?tab=messages&chat={chat}")
    page = page_tab.page
    await expect(page.get_by_test_id("tracker-events")).to_have_attribute("data-state", "live")
    loads = []
    page.on("load", lambda _: loads.append(1))

    await telegram_bot.deliver([{"update_id": base + n, "message": m} for n, m in enumerate(first)])
    saved = [await stored_message(database, chat, n) for n in (1, 2, 3, 4)]
    rows = [page.locator(f'tr[data-message-id="{m["id"]}"]') for m in saved]
    for row in rows:
        await expect(row).to_be_visible()  # pushed by the events socket: the page was loaded before they came
    await expect(rows[0].get_by_test_id("noise-class")).not_to_have_attribute("data-noise", "unscored")
    await expect(rows[2].get_by_test_id("noise-class")).to_have_attribute("data-noise", "noise")  # a bare "ok"
    await expect(rows[0].get_by_test_id("linked-user")).to_contain_text(linked.username)
    assert await avatar_checked(database, saved[0]["user_profile_id"])
    # The avatar shows once the workers have fetched it; the list is read again when the next message comes.

    # The chat filter narrows the list on the server; a new message in that chat still arrives live.
    await choose(page, page.get_by_role("combobox", name="Chat"), str(chat))
    await expect(page.locator("tr[data-message-id]")).to_have_count(4)
    await telegram_bot.deliver([{"update_id": base + 10, "message": message(
        chat, 5, author(olena, "Олена", "olena_k", "Коваль"),
        "Потрібно оновити сертифікат на проді до кінця тижня, інакше вхід впаде", now - 60)}])  # fmt: skip
    fifth = await stored_message(database, chat, 5)
    await expect(page.locator(f'tr[data-message-id="{fifth["id"]}"]')).to_be_visible()
    await expect(rows[0].get_by_test_id("author-avatar")).to_have_attribute("data-loaded", "yes")

    # An edit in Telegram: the same row changes its text and says it was edited.
    edited = "Експорт рахунків у 1С падає з таймаутом: @devops_lead, будь ласка, полагодь до п'ятниці"
    await telegram_bot.deliver([{"update_id": base + 11, "edited_message": {
        **first[0], "text": edited, "edit_date": now - 30}}])  # fmt: skip
    await expect(rows[0].get_by_test_id("message-text")).to_have_text(edited)
    await expect(rows[0].get_by_test_id("edited")).to_be_visible()
    assert loads == [], "the page was reloaded to show the change"

    # Planted markup in a message and an author's name: shown as written, never made an element.
    await expect(rows[1].get_by_test_id("message-text")).to_have_text(PLANTED)
    await expect(rows[1].get_by_test_id("author-name")).to_have_text(PLANTED_NAME)
    await assert_inert(page_tab, rows[1].get_by_test_id("message-text"))
    await assert_inert(page_tab, rows[1].get_by_test_id("author-name"))
    await rows[0].locator(".ant-table-row-expand-icon").click()
    await expect(page.get_by_test_id("noise-factors")).to_be_visible()
    await page_tab.screenshot("tracker-messages")
    assert page_tab.csp_violations() == []


async def seed_knowledge(database, word: str) -> dict:
    """A topic with three atoms of different kinds, taken from messages of a chat of its own (one planted)."""
    chat = new_ids()[0]
    start = datetime.now(UTC) - timedelta(hours=3)
    texts = [
        f"Выгрузка счетов {word} в 1С падает по таймауту каждую ночь, бухгалтерия ждёт",
        f"Предлагаю разбить выгрузку {word} на пачки по 500 счетов, таймаут уйдёт",
        "Договорились: с понедельника выгрузка идёт пачками, отвечает Тарас",
        PLANTED,
    ]
    ids = await seed_messages(database, chat, start, texts)
    async with database.begin() as conn:
        topic = await conn.scalar(
            text(
                "INSERT INTO topic (name, description, created_at, updated_at) "
                "VALUES (:n, :d, now(), now()) RETURNING id"
            ),
            {"n": f"Выгрузка счетов в 1С ({word})", "d": "Ночная выгрузка счетов в 1С и её таймауты"},
        )
        atoms = {}
        for kind, title, content, confidence, sources in (
            ("problem", f"Выгрузка {word} падает", "Ночная выгрузка счетов в 1С не успевает.", 0.92, ids[:1]),
            ("solution", "Выгружать пачками по 500", f"Разбить выгрузку {word} на пачки.", 0.81, ids[1:2]),
            ("decision", "С понедельника — пачками", PLANTED, 0.74, ids[2:4]),
        ):  # fmt: skip
            atom = await conn.scalar(
                text(
                    "INSERT INTO atom (topic_id, type, title, content, confidence, created_at) "
                    "VALUES (:t, :k, :ti, :c, :conf, now()) RETURNING id"
                ),
                {"t": topic, "k": kind, "ti": title, "c": content, "conf": confidence},
            )
            for message_id in sources:
                await conn.execute(
                    text("INSERT INTO atom_message (atom_id, message_id) VALUES (:a, :m)"), {"a": atom, "m": message_id}
                )
            atoms[kind] = atom
        await conn.execute(text("UPDATE message SET topic_id = :t WHERE id = ANY(:ids)"), {"t": topic, "ids": ids})
    return {"chat": chat, "topic": topic, "atoms": atoms, "messages": ids}


async def test_topics_show_their_atoms_and_sources_and_search_finds_messages_and_atoms_by_meaning(
    tab, stack, admin, make_user, database
):
    reader = await make_user("user")
    word = unique_word()
    seeded = await seed_knowledge(database, word)
    for kind, ids in (("messages", seeded["messages"]), ("atoms", list(seeded["atoms"].values()))):
        job = await admin.ok("POST", "/api/v1/embeddings", 202, json={"kind": kind, "ids": ids})
        assert (await admin.wait_job(job["job_id"]))["status"] == "completed"

    page_tab = await tab(locale="ru-RU")
    await page_tab.sign_in(reader.username, "password-1")
    await page_tab.goto("/tracker?tab=knowledge")
    page = page_tab.page
    await page.locator(f'[data-testid="topics-table"] tr[data-topic-id="{seeded["topic"]}"]').click()
    detail = page.locator(f'[data-testid="topic-detail"][data-topic-id="{seeded["topic"]}"]')
    await expect(detail.locator("tr[data-atom-id]")).to_have_count(3)
    decision = detail.locator(f'tr[data-atom-id="{seeded["atoms"]["decision"]}"]')
    await expect(decision.get_by_test_id("atom-type")).to_have_text("договорённость")
    await expect(decision).to_contain_text(PLANTED)
    await assert_inert(page_tab, decision)
    await decision.locator(".ant-table-row-expand-icon").click()
    sources = detail.get_by_test_id("atom-sources")
    await expect(sources.locator("li")).to_have_count(2)
    await expect(sources).to_contain_text("Договорились: с понедельника")
    await assert_inert(page_tab, sources)
    await page_tab.screenshot("tracker-knowledge")

    # Only the problems, asked of the server.
    await detail.get_by_role("combobox", name="Тип").click()
    await page.locator(".ant-select-item-option", has_text="проблема").click()
    await expect(detail.locator("tr[data-atom-id]")).to_have_count(1)
    await detail.get_by_text("Сообщения", exact=True).click()
    await expect(detail.locator('[data-testid="topic-messages"] tr[data-message-id]')).to_have_count(4)

    await page.get_by_role("tab", name="Поиск").click()
    await page.get_by_label("Поиск по смыслу").fill(f"таймаут выгрузки {word}")
    await page.get_by_role("button", name="Найти").click()
    await expect(
        page.get_by_test_id("search-messages").locator(f'tr[data-message-id="{seeded["messages"][0]}"]')
    ).to_be_visible()
    await expect(
        page.get_by_test_id("search-atoms").locator(f'tr[data-atom-id="{seeded["atoms"]["problem"]}"]')
    ).to_be_visible()
    await expect(page.get_by_test_id("similarity").first).to_have_text(re.compile(r"\d+%"))
    await assert_inert(page_tab, page.get_by_test_id("search-messages"))
    await page_tab.screenshot("tracker-search")
    assert page_tab.csp_violations() == []


async def test_a_manager_imports_a_chat_and_watches_it_end_and_a_failed_import_is_a_notice_anywhere(
    tab, stack, make_user, telegram
):
    manager = await make_user("manager")
    page_tab = await tab()
    await page_tab.sign_in(manager.username, "password-1")
    await page_tab.goto("/tracker?tab=ingestion")
    page = page_tab.page
    await expect(page.get_by_test_id("tracker-events")).to_have_attribute("data-state", "live")
    loads = []
    page.on("load", lambda _: loads.append(1))

    form = page.get_by_test_id("ingestion-form")
    await form.get_by_label("Chat").fill("gen_350_s917")
    await form.get_by_label("Newest").fill("300")
    await form.get_by_role("button", name="Start import").click()
    panel = page.get_by_test_id("job-panel")
    await expect(panel).to_contain_text("Import of gen_350_s917")
    await expect(panel.get_by_test_id("job-status")).to_have_attribute("data-status", "completed")
    await expect(panel.get_by_test_id("job-progress")).to_have_attribute("data-percent", "100")
    row = (await manager.ok("GET", "/api/v1/ingestion", params={"chat": "gen_350_s917"}))["items"][0]
    line = page.locator(f'tr[data-ingestion-id="{row["id"]}"]')
    await expect(line).to_have_attribute("data-status", "completed")
    await expect(line.get_by_test_id("ingestion-saved")).to_have_attribute("data-count", str(row["messages_saved"]))
    assert row["messages_saved"] > 0
    await page_tab.screenshot("tracker-ingestion")

    # Elsewhere in the tracker, an import of a chat Telegram does not know fails: the manager hears why.
    await page.get_by_role("tab", name="Messages").click()
    failed = await manager.ok("POST", "/api/v1/ingestion", 202, json={"chat": "nobody_here_917"})
    notice = page.get_by_test_id("tracker-failed-notice")
    await expect(notice).to_contain_text("does not exist")
    await expect(notice).to_contain_text(failed["job_id"])
    await expect(page.get_by_text("A chat history import failed")).to_be_visible()
    assert loads == [], "the page was reloaded to show the change"
    assert page_tab.csp_violations() == [] and page_tab.dialogs == []


async def test_a_user_reads_the_tracker_but_is_offered_no_import_which_the_api_refuses(tab, make_user):
    user = await make_user("user")
    page_tab = await tab()
    await page_tab.sign_in(user.username, "password-1")
    await page_tab.goto("/tracker?tab=ingestion")
    page = page_tab.page
    for name in ("Messages", "Topics and atoms", "Search"):
        await expect(page.get_by_role("tab", name=name)).to_be_visible()
    assert await page.get_by_role("tab", name="Ingestion").count() == 0
    assert await page.get_by_test_id("ingestion-form").count() == 0
    refused = await user.http.post("/api/v1/ingestion", json={"chat": "gen_10_s918"})
    assert refused.status_code == 403
