"""Telegram's side of a webhook: updates POSTed to the bot's webhook URL, retried until answered 2xx.

As Telegram does (core.telegram.org/bots/api#setwebhook): each update is one HTTPS POST of the ``Update`` as JSON,
with ``X-Telegram-Bot-Api-Secret-Token`` when the webhook has a secret; at most ``max_connections`` requests are in
flight at once; a delivery that is not answered 2xx (an error status, a timeout, a refused connection) is tried
again later, with growing pauses, and given up after a number of attempts; the last failure shows in
``getWebhookInfo`` (``last_error_date``, ``last_error_message``) and undelivered updates in
``pending_update_count``. Updates wait in arrival order; a retry goes before newer updates once its pause is over.

Telegram repeats a delivery whose answer it did not see (the webhook took the update, the answer was lost): a
test asks for that with ``repeat``, and the update is delivered a second time after its first 2xx.

Every attempt is recorded (update id, attempt number, status or error, timings) for tests to read.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ATTEMPT_LOG = 200_000
MAX_CONNECTIONS = 100  # setWebhook's upper bound


@dataclass
class DeliveryConfig:
    retry_initial_seconds: float = 0.2
    retry_max_seconds: float = 5.0
    max_attempts: int = 8
    timeout_seconds: float = 10.0


@dataclass(order=True)
class _Item:
    not_before: float
    seq: int
    update: Any = field(compare=False)
    attempts: int = field(default=0, compare=False)
    repeat: bool = field(default=False, compare=False)  # deliver again after the first 2xx
    copy: int = field(default=0, compare=False)  # 1 for that second delivery

    @property
    def update_id(self) -> int | None:
        value = self.update.get("update_id") if isinstance(self.update, dict) else None
        return value if isinstance(value, int) else None


@dataclass
class Webhook:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None


class Deliverer:
    """The delivery queue of one bot's webhook, worked by one task while updates wait."""

    def __init__(self, hook: Webhook, config: DeliveryConfig) -> None:
        self.hook = hook
        self.config = config
        self._fresh: deque[_Item] = deque()
        self._retry: list[_Item] = []  # heap by not_before
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._in_flight = 0
        self._attempt_tasks: set[asyncio.Task] = set()
        self._task: asyncio.Task | None = None
        self._http: httpx.AsyncClient | None = None
        self.attempts: deque[dict[str, Any]] = deque(maxlen=ATTEMPT_LOG)
        self.delivered = 0
        self.gave_up: list[int | None] = []
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None

    @property
    def pending(self) -> int:
        return len(self._fresh) + len(self._retry) + self._in_flight

    def add(self, updates: list[Any], repeat: set[int]) -> None:
        for update in updates:
            item = _Item(0.0, next(self._seq), update)
            item.repeat = item.update_id in repeat
            self._fresh.append(item)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._pump())

    def drop_pending(self) -> None:
        self._fresh.clear()
        self._retry.clear()

    def close(self) -> None:
        """Stop at once (no await: reset hooks are synchronous); in-flight attempts are abandoned."""
        self.drop_pending()
        for task in [self._task, *self._attempt_tasks]:
            if task is not None:
                task.cancel()
        if self._http is not None:
            http, self._http = self._http, None
            asyncio.get_running_loop().create_task(http.aclose())

    def info(self) -> dict[str, Any]:
        """``WebhookInfo`` as ``getWebhookInfo`` answers it."""
        wire: dict[str, Any] = {
            "url": self.hook.url,
            "has_custom_certificate": False,
            "pending_update_count": self.pending,
            "max_connections": self.hook.max_connections,
            "ip_address": "127.0.0.1",
        }
        if self.last_error_date is not None:
            wire["last_error_date"] = self.last_error_date
            wire["last_error_message"] = self.last_error_message
        if self.hook.allowed_updates is not None:
            wire["allowed_updates"] = self.hook.allowed_updates
        return wire

    def _next(self, now: float) -> _Item | None:
        if self._retry and self._retry[0].not_before <= now:
            return heapq.heappop(self._retry)
        return self._fresh.popleft() if self._fresh else None

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            self._wake.clear()
            item = self._next(loop.time()) if self._in_flight < self.hook.max_connections else None
            if item is None:
                timeout = None
                if self._retry and self._in_flight < self.hook.max_connections:
                    timeout = max(0.0, self._retry[0].not_before - loop.time())
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
                continue
            self._in_flight += 1
            task = loop.create_task(self._attempt(item))
            self._attempt_tasks.add(task)
            task.add_done_callback(self._attempt_tasks.discard)

    async def _attempt(self, item: _Item) -> None:
        loop = asyncio.get_running_loop()
        item.attempts += 1
        if self._http is None:
            # The pump bounds requests in flight by the hook's current max_connections; the pool takes Telegram's
            # largest, so a setWebhook that raises it needs no new client.
            limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=None)
            self._http = httpx.AsyncClient(timeout=self.config.timeout_seconds, limits=limits)
        headers = {SECRET_HEADER: self.hook.secret_token} if self.hook.secret_token else {}
        started = time.time()
        t0 = loop.time()
        status: int | None = None
        error: str | None = None
        try:
            response = await self._http.post(self.hook.url, json=item.update, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"Wrong response from the webhook: {status} {response.reason_phrase}".rstrip()
        except httpx.TimeoutException:
            error = "Timeout expired"
        except httpx.HTTPError as exc:
            error = f"Connection failed: {type(exc).__name__}"
        finally:
            self._in_flight -= 1
        self.attempts.append(
            {
                "update_id": item.update_id,
                "attempt": item.attempts,
                "copy": item.copy,
                "status": status,
                "error": error,
                "sent_at": started,
                "duration_ms": round((loop.time() - t0) * 1000, 2),
            }
        )
        if error is None:
            self.delivered += 1
            if item.repeat:  # delivered once; Telegram did not see the answer and sends it again
                self._fresh.append(_Item(0.0, next(self._seq), item.update, copy=1))
        else:
            self.last_error_date, self.last_error_message = int(started), error
            if item.attempts >= self.config.max_attempts:
                self.gave_up.append(item.update_id)
            else:
                pause = min(self.config.retry_max_seconds, self.config.retry_initial_seconds * 2 ** (item.attempts - 1))
                item.not_before = loop.time() + pause
                heapq.heappush(self._retry, item)
        self._wake.set()
