"""Clients of a running stack, for tests and benchmarks: the API logged in as one user, an emulator's
fault controls, what a migrated channel must look like in MAX, and `eventually`, the deadline loop every wait on a
state goes through."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx

from clients.telegram import PyrogramSource
from domain.max_split import plan_post
from domain.posts import PostKind
from settings import Settings

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, within: float = 30.0, interval: float = 0.1
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Any = None
    while loop.time() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last value: {last!r}")


class Api:
    """An HTTP client of the API, logged in as one user."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)

    @classmethod
    async def login(cls, base_url: str, username: str, password: str) -> Api:
        async with httpx.AsyncClient(base_url=base_url) as http:
            response = await http.post("/api/login/", json={"username": username, "password": password})
        response.raise_for_status()
        return cls(base_url, response.json()["access"])

    async def ok(self, method: str, url: str, expect: int = 200, **kwargs) -> Any:
        response = await self.http.request(method, url, **kwargs)
        assert response.status_code == expect, f"{method} {url}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    async def job(self, job_id: str) -> dict:
        return await self.ok("GET", f"/api/v1/jobs/{job_id}")

    async def wait_job(self, job_id: str, within: float = 60.0) -> dict:
        async def closed():
            snap = await self.job(job_id)
            return snap if snap["status"] in ("completed", "failed", "cancelled") else None

        return await eventually(closed, f"job {job_id} to close", within)

    async def close(self) -> None:
        await self.http.aclose()


class Emulator:
    """Fault injection on an emulator, per test."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def fault(self, **rule: Any) -> None:
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            (await http.post("/_emulator/faults", json=rule)).raise_for_status()

    async def reset(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            (await http.post("/_emulator/reset")).raise_for_status()

    async def clear_faults(self) -> None:
        """Lift every rule; the counts stay."""
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            (await http.delete("/_emulator/faults")).raise_for_status()

    async def requests(self, path: str) -> int:
        return (await self.stats())["requests"].get(path, 0)

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            return (await http.get("/_emulator/stats")).json()

    async def control(self, method: str, path: str, **body: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as http:
            response = await http.request(method, path, json=body if method != "GET" else None)
        response.raise_for_status()
        return response.json()


class OneCEmulator(Emulator):
    """The 1C emulator's book, besides its faults (see `emulators.onec` for every knob)."""

    async def book(self, **config: Any) -> dict:
        """A new book from `config` (seed, documents, contractors, ...); answers its config and counts."""
        return await self.control("POST", "/_emulator/book", **config)

    async def counts(self) -> dict[str, int]:
        return (await self.control("GET", "/_emulator/book"))["counts"]

    async def change(self, count: int, entity: str = "documents") -> list[str]:
        """Rewrite `count` objects (new DataVersion, new amount): a sync after this finds them updated."""
        return (await self.control("POST", "/_emulator/book/change", count=count, entity=entity))["changed"]

    async def arrive(self) -> list[str]:
        """The contractors documents named before the catalog had them arrive; answers their keys."""
        return (await self.control("POST", "/_emulator/book/arrive"))["arrived"]

    async def expire_session(self, *, times: int | None = None, seconds: float | None = None) -> None:
        await self.control("POST", "/_emulator/session", times=times, seconds=seconds)


class TelegramBotEmulator(Emulator):
    """The Telegram Bot API emulator as Telegram's side of a webhook (see `emulators.telegram_bot`)."""

    async def call(self, token: str, method: str, **params: Any) -> Any:
        """A Bot API method; answers its `result`, raises on `ok: false`."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as http:
            body = (await http.post(f"/bot{token}/{method}", json=params)).json()
        if not body.get("ok"):
            raise RuntimeError(f"{method}: {body.get('error_code')} {body.get('description')}")
        return body["result"]

    async def set_webhook(self, token: str, url: str, secret_token: str | None = None, **params: Any) -> None:
        await self.call(token, "setWebhook", url=url, secret_token=secret_token, **params)

    async def updates(self, count: int, **spec: Any) -> list[dict[str, Any]]:
        """Generated message Updates (chat_id, users, seed, first_update_id...), not delivered."""
        return (await self.control("POST", "/_emulator/telegram_bot/updates", count=count, **spec))["updates"]

    async def deliver(self, updates: list[Any], repeat: Sequence[int] = (), token: str | None = None) -> None:
        """Queue `updates` for the webhook; each id in `repeat` is delivered twice."""
        body: dict[str, Any] = {"updates": updates, "repeat": list(repeat)}
        if token is not None:
            body["token"] = token
        await self.control("POST", "/_emulator/telegram_bot/deliver", **body)

    async def deliveries(self, token: str | None = None) -> dict[str, Any]:
        """`pending`, `delivered`, `gave_up` and every attempt so far."""
        query = f"?token={token}" if token else ""
        return await self.control("GET", f"/_emulator/telegram_bot/deliveries{query}")

    async def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Every sendMessage the emulator answered 200 (to `chat_id`), oldest first."""
        query = "" if chat_id is None else f"?chat_id={chat_id}"
        return (await self.control("GET", f"/_emulator/telegram_bot/sent{query}"))["messages"]

    async def configure(self, **knobs: Any) -> dict[str, Any]:
        return await self.control("POST", "/_emulator/telegram_bot/config", **knobs)


Sent = tuple[str, list[str]]  # a MAX message as text and attachment kinds


async def expected_in_max(telegram_url: str, chat: str) -> list[Sent]:
    """What MAX must hold after the whole channel moved: each post's messages, in the channel's order."""
    settings = Settings.without_env_file(telegram_emulator_url=telegram_url)
    expected: list[Sent] = []
    async with PyrogramSource.from_settings(settings, chat) as source:
        after, done = 0, False
        while not done:
            page = await source.page(after, 100)
            for post in page.posts:
                if post.kind == PostKind.content:
                    expected += [(m.plain, [k.value for k in m.kinds]) for m in plan_post(post)]
            after, done = page.after_id, page.done
    return expected


async def in_max(emulator: Emulator, chat_id: int) -> list[Sent]:
    """What the MAX emulator holds in a chat, in the order it was sent."""
    messages = (await emulator.control("GET", f"/_emulator/max/chats/{chat_id}/messages"))["messages"]
    return [(m["body"]["text"] or "", [a["type"] for a in m["body"]["attachments"]]) for m in messages]
