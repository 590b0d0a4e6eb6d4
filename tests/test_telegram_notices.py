"""A Longrun user links their Telegram (a one-time code sent to the bot as `/start <code>`), and their long jobs then
report progress and their end from the bot, through an outbox no job waits on: a Bot API that hangs delays notices,
never a job."""

import itertools
import re
import time

import httpx
import pytest
from sqlalchemy import text

from devstack.clients import Api, eventually
from tests.support.news import discover, make_sources

SECRET = "notices-test-secret"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
QUEUE = "longrun-notices"
EVERY_ITEMS = 3
_ids = itertools.count(int(time.time()) % 1_000_000 * 1000)


@pytest.fixture(scope="module")
def notices_url(stack):
    env = {
        "LONGRUN_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "LONGRUN_TELEGRAM_BOT_USERNAME": "longrun_test_bot",
        "LONGRUN_JOB_NOTICE_EVERY_ITEMS": str(EVERY_ITEMS),
        "LONGRUN_JOB_NOTICE_MIN_SECONDS": "0",
        "LONGRUN_JOB_NOTICE_POLL_SECONDS": "0.2",
        "LONGRUN_JOB_NOTICE_SEND_TIMEOUT_SECONDS": "1",
    }
    url = stack.start_api("api-notices", task_queue=QUEUE, **env)
    stack.start_worker("worker-notices", task_queue=QUEUE, **env)
    yield url
    stack.stop_named("api-notices", "worker-notices")


def start_update(telegram_id: int, body: str, language: str = "ru") -> dict:
    sender = {"id": telegram_id, "is_bot": False, "first_name": "Оператор", "language_code": language}
    message = {"message_id": 1, "from": sender, "chat": {"id": telegram_id, "type": "private"},
               "date": int(time.time()), "text": body}  # fmt: skip
    return {"update_id": next(_ids), "message": message}


async def linked(url: str, make_user, telegram_bot) -> tuple[Api, int]:
    """A fresh user of the deployment at `url` with a Telegram account linked."""
    user = await make_user("user")
    api = Api(url, user.token)
    telegram_id = next(_ids)
    code = await api.ok("POST", "/api/v1/users/me/telegram/link", 201)
    async with httpx.AsyncClient(base_url=url) as http:
        update = start_update(telegram_id, code["command"])
        response = await http.post("/webhook/telegram", json=update, headers=HEADERS)
    assert response.status_code == 200, response.text
    assert (await api.ok("GET", "/api/v1/users/me"))["telegram"]["user_id"] == telegram_id
    return api, telegram_id


async def texts(telegram_bot, chat_id: int) -> list[str]:
    return [m["text"] for m in await telegram_bot.sent(chat_id)]


async def test_a_user_links_their_telegram_with_a_one_time_code(notices_url, make_user, telegram_bot, database):
    user = await make_user("user")
    api = Api(notices_url, user.token)
    assert (await api.ok("GET", "/api/v1/users/me"))["telegram"] is None
    code = await api.ok("POST", "/api/v1/users/me/telegram/link", 201)
    assert code["command"] == f"/start {code['code']}" and re.fullmatch(r"[A-Za-z0-9_-]{32}", code["code"])
    assert code["deep_link"] == f"https://t.me/longrun_test_bot?start={code['code']}"

    telegram_id, stranger = next(_ids), next(_ids)
    update = start_update(telegram_id, code["command"])
    async with httpx.AsyncClient(base_url=notices_url) as http:
        assert (await http.post("/webhook/telegram", json=update, headers=HEADERS)).status_code == 200
        # The same code from another account links nothing and says so.
        taken = start_update(stranger, code["command"], language="en")
        assert (await http.post("/webhook/telegram", json=taken, headers=HEADERS)).status_code == 200

    me = await api.ok("GET", "/api/v1/users/me")
    assert (me["telegram"]["user_id"], me["telegram"]["language"]) == (telegram_id, "ru")

    async def replied():
        said = await texts(telegram_bot, telegram_id)
        return said if any(user.username in t and "Telegram привязан" in t for t in said) else None

    await eventually(replied, "the bot's reply to the link", within=30)
    refused = await eventually(lambda: texts(telegram_bot, stranger), "the bot's refusal", within=30)
    assert refused == ["This link code is unknown or has expired: get a new one in Longrun."]
    async with database.connect() as conn:  # the code never reached the tracker's inbox
        stored = await conn.scalar(
            text("select count(*) from telegram_update where update_id = :u"), {"u": update["update_id"]}
        )
    assert stored == 0

    # The tracker's profile of that account says whose it is.
    async with database.begin() as conn:
        profile_id = await conn.scalar(
            text(
                "insert into user_profile (telegram_user_id, first_name, is_bot, created_at, updated_at) "
                "values (:t, 'Оператор', false, now(), now()) returning id"
            ),
            {"t": telegram_id},
        )
    profile = await api.ok("GET", f"/api/v1/profiles/{profile_id}")
    assert profile["linked_user"] == {"id": me["id"], "username": user.username}

    await api.ok("DELETE", "/api/v1/users/me/telegram", 204)
    assert (await api.ok("GET", "/api/v1/users/me"))["telegram"] is None
    assert (await api.ok("GET", f"/api/v1/profiles/{profile_id}"))["linked_user"] is None


async def test_a_linked_users_long_job_reports_progress_and_its_end(
    stack, admin, notices_url, make_user, telegram_bot, feeds
):
    api, telegram_id = await linked(notices_url, make_user, telegram_bot)
    await feeds.fault(path="/feeds/", kind="latency", latency_ms=600)  # each source takes a while
    sources = await make_sources(admin, stack, 8, items=2)
    job_id = await discover(api, sources, max_parallel=1)
    done = await api.wait_job(job_id, within=120)
    assert done["status"] == "completed" and done["processed"] == 8

    async def ended():
        said = await texts(telegram_bot, telegram_id)
        return said if any(t.startswith("✅ Готово: news_discovery · " + job_id) for t in said) else None

    said = await eventually(ended, "the end notice", within=30)
    end = next(t for t in said if t.startswith("✅ Готово"))
    assert "обработано 8: успешно 8, пропущено 0, ошибок 0" in end
    progress = [t for t in said if t.startswith("⏳ Прогресс: ")]
    counts = [int(re.match(r"⏳ Прогресс: (\d+)/8 \(", t)[1]) for t in progress]  # type: ignore[index]
    assert counts, said
    # At most one notice per EVERY_ITEMS items: each says at least that many more than the one before.
    assert all(b - a >= EVERY_ITEMS for a, b in itertools.pairwise([0, *counts])), counts
    assert all(job_id in t for t in progress)


async def test_a_hanging_bot_api_delays_notices_and_never_the_job(
    stack, admin, notices_url, make_user, telegram_bot, feeds
):
    api, telegram_id = await linked(notices_url, make_user, telegram_bot)
    await eventually(lambda: texts(telegram_bot, telegram_id), "the link's reply", within=30)
    # Every send now hangs far past the sender's timeout (1 s here).
    await telegram_bot.fault(path="/bot/sendMessage", kind="latency", latency_ms=60_000)
    await feeds.fault(path="/feeds/", kind="latency", latency_ms=300)
    sources = await make_sources(admin, stack, 6, items=2)
    job_id = await discover(api, sources, max_parallel=1)

    done = await api.wait_job(job_id, within=120)
    assert done["status"] == "completed" and done["processed"] == 6
    # The job finished with not one of its notices through: nothing it did waited on the bot.
    assert not [t for t in await texts(telegram_bot, telegram_id) if job_id in t]

    await telegram_bot.clear_faults()

    async def ended():
        said = await texts(telegram_bot, telegram_id)
        return said if any(t.startswith("✅ Готово: news_discovery · " + job_id) for t in said) else None

    await eventually(ended, "the end notice once the Bot API answers again", within=60)
