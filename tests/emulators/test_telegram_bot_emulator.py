"""The Telegram Bot API emulator's contract over real HTTP: methods in Telegram's wire format, real JPEG files, and
Telegram's side of a webhook (secret header, retries until 2xx, repeated deliveries), with a real HTTP receiver."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devstack import processes as ps
from devstack.clients import eventually
from emulators import telegram_bot_data as data

TOKEN = "7012345678:AAHk-emulated_bot_token_0123456789abc"
SECRET = "s3cret_Token-1"


@pytest.fixture
async def bot(telegram_bot_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{telegram_bot_url}/bot{TOKEN}", timeout=30) as client:
        yield client


@pytest.fixture
async def control(telegram_bot_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{telegram_bot_url}/_emulator", timeout=30) as client:
        yield client


class Receiver:
    """A webhook endpoint on loopback that records each delivery and answers as scripted per update id."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, str | None]] = []
        self.fail: dict[int, list[int]] = {}  # update_id -> statuses to answer, one per attempt, then 200
        self.attempts: defaultdict[int, int] = defaultdict(int)
        self.url = ""
        self.hold = 0.0  # seconds each answer is held back, so deliveries overlap
        self.in_flight = self.peak = 0

    async def endpoint(self, request: Request) -> JSONResponse:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.hold:
                await asyncio.sleep(self.hold)
            return await self.answer(await request.json(), request)
        finally:
            self.in_flight -= 1

    async def answer(self, update: Any, request: Request) -> JSONResponse:
        self.seen.append((update, request.headers.get("x-telegram-bot-api-secret-token")))
        update_id = update.get("update_id") if isinstance(update, dict) else None
        self.attempts[update_id] += 1
        script = self.fail.get(update_id, [])
        status = script[self.attempts[update_id] - 1] if self.attempts[update_id] <= len(script) else 200
        return JSONResponse({"ok": status == 200}, status_code=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    port = ps.free_port()
    app = Starlette(routes=[Route("/webhook/telegram", hook.endpoint, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host=ps.HOST, port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await eventually(started, "the test webhook to serve", within=15, interval=0.01)
    hook.url = f"http://{ps.HOST}:{port}/webhook/telegram"
    try:
        yield hook
    finally:
        server.should_exit = True
        await serving


async def result(response: httpx.Response) -> Any:
    body = response.json()
    assert response.status_code == 200 and body["ok"] is True, body
    return body["result"]


async def wait_delivered(control: httpx.AsyncClient, within: float = 30) -> dict:
    async def idle() -> dict | None:
        answer = (await control.get("/telegram_bot/deliveries")).json()
        return answer if answer["pending"] == 0 else None

    return await eventually(idle, "every update to be delivered or given up", within)


# --------------------------------------------------------------------------------------------- methods


async def test_get_me_and_tokens(bot: httpx.AsyncClient, telegram_bot_url: str, control: httpx.AsyncClient) -> None:
    me = await result(await bot.get("/getMe"))
    assert me["id"] == 7012345678 and me["is_bot"] is True and me["username"].endswith("_bot")
    async with httpx.AsyncClient(base_url=telegram_bot_url) as raw:
        answer = await raw.get("/botnot-a-token/getMe")
        assert answer.status_code == 401
        assert answer.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        assert (await raw.post(f"/bot{TOKEN}/sendNothing")).json()["error_code"] == 404
        # Strict: only bots added through the control route exist.
        (await control.post("/telegram_bot/config", json={"strict": True})).raise_for_status()
        assert (await raw.get("/bot1:other/getMe")).status_code == 401
        assert (await raw.get(f"/bot{TOKEN}/getme")).status_code == 200  # known already; names ignore case


async def test_generated_users_are_realistic_and_some_have_no_photo() -> None:
    users = [data.user(500_000_000 + i) for i in range(200)]
    firsts = [u["first_name"] for u in users]
    assert any(name[0] in "АБВГДЕЁЖЗИІЙКЛМНОПРСТУФХЦЧШЩЭЮЯ" for name in firsts)
    assert any(name[0].isascii() for name in firsts)
    assert any("last_name" not in u for u in users) and any("username" not in u for u in users)
    counts = [data.photo_count(u["id"]) for u in users]
    assert 0 in counts and max(counts) == data.MAX_PHOTOS
    assert 0.1 < counts.count(0) / len(counts) < 0.4
    assert data.user(500_000_007) == data.user(500_000_007)


async def test_profile_photos_page_and_name_their_sizes(bot: httpx.AsyncClient) -> None:
    user_id = next(u for u in range(500_000_001, 500_001_000) if data.photo_count(u) == 3)
    everything = await result(await bot.get("/getUserProfilePhotos", params={"user_id": user_id}))
    assert everything["total_count"] == 3 and len(everything["photos"]) == 3
    first = everything["photos"][0]
    assert [(s["width"], s["height"]) for s in first] == [(160, 160), (320, 320), (640, 640)]
    assert all(set(s) == {"file_id", "file_unique_id", "file_size", "width", "height"} for s in first)
    # The same parameters as JSON and as a form; offset and limit page through the photos.
    page = await result(await bot.post("/getUserProfilePhotos", json={"user_id": user_id, "offset": 1, "limit": 1}))
    assert page["total_count"] == 3 and page["photos"] == everything["photos"][1:2]
    form = await result(await bot.post("/getUserProfilePhotos", data={"user_id": str(user_id), "offset": "2"}))
    assert form["photos"] == everything["photos"][2:]
    fields = {"user_id": (None, str(user_id)), "limit": (None, "2")}
    multipart = await result(await bot.post("/getUserProfilePhotos", files=fields))
    assert multipart["photos"] == everything["photos"][:2]

    nobody = next(u for u in range(500_000_001, 500_001_000) if data.photo_count(u) == 0)
    assert await result(await bot.get("/getUserProfilePhotos", params={"user_id": nobody})) == {
        "total_count": 0,
        "photos": [],
    }
    wrong = (({}, "user_id"), ({"user_id": "x"}, "user_id"), ({"user_id": user_id, "limit": 101}, "limit"))
    for params, field in wrong:
        answer = await bot.get("/getUserProfilePhotos", params=params)
        assert answer.status_code == 400 and field in answer.json()["description"], answer.json()


async def test_get_file_then_download_a_real_jpeg(bot: httpx.AsyncClient, telegram_bot_url: str) -> None:
    user_id = next(u for u in range(500_000_001, 500_001_000) if data.photo_count(u))
    photos = await result(await bot.get("/getUserProfilePhotos", params={"user_id": user_id, "limit": 1}))
    biggest = photos["photos"][0][-1]
    file = await result(await bot.get("/getFile", params={"file_id": biggest["file_id"]}))
    assert file["file_path"].startswith("photos/") and file["file_path"].endswith(".jpg")
    assert file["file_size"] == biggest["file_size"] and file["file_unique_id"] == biggest["file_unique_id"]
    async with httpx.AsyncClient(base_url=telegram_bot_url) as raw:
        download = await raw.get(f"/file/bot{TOKEN}/{file['file_path']}")
        assert download.status_code == 200 and download.headers["content-type"] == "image/jpeg"
        jpeg = download.content
        assert len(jpeg) == file["file_size"]
        assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
        frame = jpeg.index(b"\xff\xc0")  # baseline frame header: precision, height, width
        assert int.from_bytes(jpeg[frame + 5 : frame + 7]) == int.from_bytes(jpeg[frame + 7 : frame + 9]) == 640
        assert (await raw.get(f"/file/bot{TOKEN}/photos/file_1_9_640.jpg")).status_code == 404
        assert (await raw.get(f"/file/botbad/{file['file_path']}")).status_code == 404
    bad = await bot.get("/getFile", params={"file_id": "AgACnothing"})
    assert bad.status_code == 400 and bad.json()["description"] == "Bad Request: invalid file_id"
    assert "file_id" in (await bot.get("/getFile")).json()["description"]


async def test_webhook_set_read_and_delete(bot: httpx.AsyncClient) -> None:
    assert (await result(await bot.get("/getWebhookInfo")))["url"] == ""
    answer = await bot.post(
        "/setWebhook", json={"url": "http://127.0.0.1:9/hook", "secret_token": SECRET, "max_connections": 5}
    )
    assert answer.json() == {"ok": True, "result": True, "description": "Webhook was set"}
    info = await result(await bot.get("/getWebhookInfo"))
    assert info["url"] == "http://127.0.0.1:9/hook" and info["max_connections"] == 5
    assert info["pending_update_count"] == 0 and "secret_token" not in info
    for params, field in (
        ({"url": "http://x/", "secret_token": "no spaces"}, "secret token"),
        ({"url": "http://x/", "max_connections": 0}, "max_connections"),
        ({"url": "ftp://x/"}, "url"),
        ({}, "url"),
    ):
        refused = await bot.post("/setWebhook", json=params)
        assert refused.status_code == 400 and field in refused.json()["description"], refused.json()
    assert (await bot.post("/deleteWebhook")).json()["description"] == "Webhook was deleted"
    assert (await bot.post("/deleteWebhook")).json()["description"] == "Webhook is already deleted"
    assert (await result(await bot.get("/getWebhookInfo")))["url"] == ""


# --------------------------------------------------------------------------------------------- webhook delivery


async def test_delivery_carries_the_secret_retries_until_2xx_and_repeats(
    bot: httpx.AsyncClient, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    await control.post("/telegram_bot/config", json={"retry_initial_seconds": 0.05})
    await result(await bot.post("/setWebhook", json={"url": receiver.url, "secret_token": SECRET}))
    updates = data.message_updates(6, seed=3)
    ids = [u["update_id"] for u in updates]
    receiver.fail[ids[1]] = [500, 503]
    answer = await control.post("/telegram_bot/deliver", json={"updates": updates, "repeat": [ids[4]]})
    assert answer.json()["queued"] == 6

    report = await wait_delivered(control)
    assert {update["update_id"] for update, _ in receiver.seen} == set(ids)
    assert all(secret == SECRET for _, secret in receiver.seen)
    assert dict(receiver.attempts) == {**dict.fromkeys(ids, 1), ids[1]: 3, ids[4]: 2}
    assert report["delivered"] == 7 and report["gave_up"] == []
    of_failed = [a for a in report["attempts"] if a["update_id"] == ids[1]]
    assert [(a["attempt"], a["status"]) for a in of_failed] == [(1, 500), (2, 503), (3, 200)]
    assert [a["copy"] for a in report["attempts"] if a["update_id"] == ids[4]] == [0, 1]
    assert report["webhook"]["last_error_message"] == "Wrong response from the webhook: 503 Service Unavailable"
    assert next(u for u, _ in receiver.seen if u["update_id"] == ids[0]) == updates[0]  # the Update as given


async def test_delivery_gives_up_after_max_attempts_and_survives_a_dead_webhook(
    bot: httpx.AsyncClient, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    await control.post("/telegram_bot/config", json={"retry_initial_seconds": 0.01, "max_attempts": 3})
    await result(await bot.post("/setWebhook", data={"url": "http://127.0.0.1:9/nothing-listens"}))
    update = data.message_updates(1)[0]
    await control.post("/telegram_bot/deliver", json={"updates": [update]})
    report = await wait_delivered(control)
    assert report["gave_up"] == [update["update_id"]] and report["delivered"] == 0
    assert [a["attempt"] for a in report["attempts"]] == [1, 2, 3]
    assert all(a["status"] is None and a["error"].startswith("Connection failed") for a in report["attempts"])

    # A malformed update (no update_id) answered 400 is retried like any other failure, then given up.
    await result(await bot.post("/setWebhook", json={"url": receiver.url}))
    await control.post("/telegram_bot/deliver", json={"updates": [{"message": "not an update"}]})
    receiver.fail[None] = [400, 400, 400]  # JSON null becomes None in the receiver's script
    report = await wait_delivered(control)
    assert receiver.attempts[None] == 3 and report["gave_up"][-1] is None


async def test_max_connections_bounds_deliveries_in_flight(
    bot: httpx.AsyncClient, control: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.hold = 0.1
    await result(await bot.post("/setWebhook", json={"url": receiver.url, "max_connections": 3}))
    await control.post("/telegram_bot/deliver", json={"updates": data.message_updates(12)})
    await wait_delivered(control)
    assert len(receiver.seen) == 12 and receiver.peak == 3


async def test_deliver_needs_a_webhook_and_names_the_token(control: httpx.AsyncClient) -> None:
    answer = await control.post("/telegram_bot/deliver", json={"updates": [{"update_id": 1}]})
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["token"]
    answer = await control.post("/telegram_bot/deliver", json={"updates": []})
    assert answer.status_code == 422 and "updates" in answer.text


# --------------------------------------------------------------------------------------------- faults and data


async def test_fault_rules_match_every_bot_and_answer_in_telegrams_shape(
    bot: httpx.AsyncClient, control: httpx.AsyncClient, telegram_bot_url: str
) -> None:
    rule = {"path": "/bot/getFile", "kind": "status", "status": 429, "retry_after": 1.5, "times": 1}
    (await control.post("/faults", json=rule)).raise_for_status()
    limited = await bot.get("/getFile", params={"file_id": "x"})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert limited.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 2",
        "parameters": {"retry_after": 2},
    }
    assert (await bot.get("/getFile", params={"file_id": "x"})).status_code == 400  # the rule is spent
    assert (await bot.get("/getMe")).status_code == 200  # and never applied to another method
    await control.post("/faults", json={"path": "/file/bot/", "kind": "drop", "times": 1})
    with pytest.raises(httpx.TransportError):
        await bot.get(f"{telegram_bot_url}/file/bot{TOKEN}/photos/x.jpg")


async def test_generated_updates_are_message_updates_with_utf16_entities(control: httpx.AsyncClient) -> None:
    answer = await control.post("/telegram_bot/updates", json={"count": 300, "users": 15, "seed": 5})
    updates = answer.json()["updates"]
    assert [u["update_id"] for u in updates] == list(range(100_000_001, 100_000_301))
    assert len({u["message"]["from"]["id"] for u in updates}) <= 15
    assert updates == data.message_updates(300, users=15, seed=5)  # the same in every process
    with_entities = [u["message"] for u in updates if "entities" in u["message"]]
    assert with_entities
    for message in with_entities:
        units = message["text"].encode("utf-16-le")
        for entity in message["entities"]:
            piece = units[2 * entity["offset"] : 2 * (entity["offset"] + entity["length"])].decode("utf-16-le")
            assert piece.startswith("@" if entity["type"] == "mention" else "https://"), (piece, message)
