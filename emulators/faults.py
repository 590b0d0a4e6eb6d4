"""Fault injection shared by every emulator: tests script outages, rate limits and slowness over HTTP.

Control API (never faulted, never counted):

- ``POST /_emulator/faults`` with ``{"path": "/v1/chat/completions", "kind": "status"|"latency"|"drop"|"drop_after",
  "status": 429, "retry_after": 1.0, "latency_ms": 500, "times": 3, "body": {...}}`` adds a rule and answers
  ``{"id": n}``. ``path`` is a prefix of the request path (omitted: every path). ``times`` is how many matching
  requests the rule is spent on (omitted/null: forever). ``probability`` (default 1) is the share of matching
  requests it takes, drawn from a coin seeded at every reset, so a scripted run repeats.
- ``DELETE /_emulator/faults`` removes every rule; ``POST /_emulator/reset`` also zeroes the stats and runs the
  emulator's own reset hooks (the 1C emulator returns to its default book). ``?seed=N`` seeds the rules' coins
  (default 0), so runs with different seeds draw different faults and a rerun with one seed the same.
- ``GET /_emulator/fault-log`` answers every fault applied since the reset (the last ``FAULT_LOG_SIZE``), in order:
  ``{"at": unix time, "request": "POST /messages?chat_id=7", "kind": "status", "status": 503}``: which requests, and
  so which items, the faults hit.
- ``GET /_emulator/stats`` answers ``{"requests": {path: n}, "faults_applied": {path: n}}`` by exact path, plus
  whatever the emulator adds under its own key (``EmulatorApp.add_stats``); ``reset`` also clears its state
  (``EmulatorApp.on_reset``).

How rules combine: a request takes at most one latency rule and at most one answering rule (``status`` or
``drop``), each the first live match in the order rules were added; both are spent by that request. So
"slow, then 503" is two rules, and a 429 rule added after a forever-latency rule still fires.

``status`` answers with the emulator's error envelope (the OpenAI one unless the emulator names another; or the
given ``body``) plus ``Retry-After`` and
``retry-after-ms`` when ``retry_after`` is set, as the real API does. ``drop`` aborts the TCP connection
without a byte of response, so the client sees a protocol/read error rather than an HTTP status.
``drop_after`` ("accept, then drop") lets the emulator carry the request out — a message is stored — and then
aborts the connection instead of answering: the client cannot tell whether its request took effect. Its
``latency_ms`` holds the silent connection that long first, so a test can kill the client in between.

State is per process and mutated only in code that never awaits, so concurrent requests on the event loop
cannot interleave inside an update.
"""

import asyncio
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.errors import error_payload

CONTROL_PREFIX = "/_emulator"
# Faults the log keeps: a long chaos run at 20% faults applies tens of thousands.
FAULT_LOG_SIZE = 200_000


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    kind: Literal["status", "latency", "drop", "drop_after"]
    status: int = Field(500, ge=100, le=599)
    retry_after: float | None = Field(None, ge=0)
    latency_ms: float = Field(0, ge=0)
    times: int | None = Field(None, ge=1)
    # The share of matching requests the rule takes (a coin per request; a request it passes over does not spend
    # it): 0.2 is "20% of requests fail".
    probability: float = Field(1.0, gt=0, le=1)
    body: dict[str, Any] | None = None

    def matches(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path)

    def response(self, envelope: "ErrorEnvelope" = error_payload) -> Response:
        headers = {}
        if self.retry_after is not None:
            headers = {"Retry-After": f"{self.retry_after:g}", "retry-after-ms": str(round(self.retry_after * 1000))}
        body = self.body if self.body is not None else envelope(self.status, f"Emulated fault: {self.status}")
        return JSONResponse(body, status_code=self.status, headers=headers)


@dataclass
class _Rule:
    spec: FaultSpec
    remaining: int | None

    def spend(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1


ErrorEnvelope = Callable[[int, str], dict[str, Any]]


class FaultBook:
    """Rules and counters of one emulator process."""

    def __init__(self, envelope: ErrorEnvelope = error_payload) -> None:
        self._rules: list[_Rule] = []
        self._next_id = 1
        self.requests: Counter[str] = Counter()
        self.faults_applied: Counter[str] = Counter()
        # Injected errors answer in the emulated service's own shape, since clients read their message from it.
        self.envelope = envelope
        # What an emulator reports besides counts (MAX's messages per chat) and the state it keeps besides
        # faults (the 1C book), which returns to its start on reset too.
        self.extra_stats: dict[str, Callable[[], Any]] = {}
        self.reset_hooks: list[Callable[[], None]] = []
        # The coins of `probability` rules: seeded, so a run after a reset draws the same sequence.
        self.coins = random.Random(0)
        self.fault_log: deque[dict[str, Any]] = deque(maxlen=FAULT_LOG_SIZE)

    def add(self, spec: FaultSpec) -> int:
        self._rules.append(_Rule(spec, spec.times))
        rule_id, self._next_id = self._next_id, self._next_id + 1
        return rule_id

    def clear(self) -> None:
        self._rules.clear()

    def reset(self, seed: int = 0) -> None:
        self.clear()
        self.coins.seed(seed)
        self.requests.clear()
        self.faults_applied.clear()
        self.fault_log.clear()
        for hook in self.reset_hooks:
            hook()

    def stats(self) -> dict[str, Any]:
        extra = {name: produce() for name, produce in self.extra_stats.items()}
        return {"requests": dict(self.requests), "faults_applied": dict(self.faults_applied), **extra}

    def take(self, path: str, request: str = "") -> tuple[FaultSpec | None, FaultSpec | None]:
        """Count the request and spend the rules that apply to it: (latency rule, answering rule). `request` (method,
        path and query) is what the fault log names."""
        self.requests[path] += 1
        delay = answer = None
        for rule in self._rules:
            if not rule.spec.matches(path):
                continue
            if rule.spec.probability < 1 and self.coins.random() >= rule.spec.probability:
                continue
            if rule.spec.kind == "latency" and delay is None:
                delay = rule
            elif rule.spec.kind != "latency" and answer is None:
                answer = rule
        chosen = [rule for rule in (delay, answer) if rule is not None]
        for rule in chosen:
            rule.spend()
        if chosen:
            self.faults_applied[path] += 1
            for rule in chosen:
                entry = {"at": time.time(), "request": request or path, "kind": rule.spec.kind}
                if rule.spec.kind == "status":
                    entry["status"] = rule.spec.status
                self.fault_log.append(entry)
        self._rules = [rule for rule in self._rules if rule.remaining != 0]
        return (delay.spec if delay else None), (answer.spec if answer else None)


def _control_router(book: FaultBook, spec_type: type[FaultSpec]) -> APIRouter:
    router = APIRouter(prefix=CONTROL_PREFIX, tags=["emulator control"])

    @router.post("/faults")
    async def add_fault(spec: spec_type) -> dict[str, int]:
        return {"id": book.add(spec)}

    @router.delete("/faults")
    async def clear_faults() -> dict[str, bool]:
        book.clear()
        return {"ok": True}

    @router.post("/reset")
    async def reset(seed: int = 0) -> dict[str, bool]:
        book.reset(seed)
        return {"ok": True}

    @router.get("/fault-log")
    async def fault_log() -> list[dict[str, Any]]:
        return list(book.fault_log)

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        return book.stats()

    return router


async def _drop_connection(receive: Receive, send: Send) -> None:
    """Abort the TCP connection before any response byte.

    ASGI has no "abort" message, so this reaches the transport through uvicorn's ``send`` (a bound method of its
    request cycle); that is why the fault layer must be the outermost one. Waiting for ``http.disconnect`` then
    lets uvicorn see the request as abandoned by the peer instead of answering 500 on the dead socket.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("drop fault needs the app to be served directly by uvicorn")
    transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass


async def _accept_then_drop(app: ASGIApp, scope: Scope, receive: Receive, send: Send, hold_ms: float) -> None:
    """Run the request to its end, throw its answer away, keep the connection silent for `hold_ms` (a client
    can die meanwhile, its request carried out), then abort the connection."""

    async def discard(_: Any) -> None:
        pass

    await app(scope, receive, discard)
    if hold_ms:
        await asyncio.sleep(hold_ms / 1000)
    await _drop_connection(receive, send)


class _FaultMiddleware:
    def __init__(self, app: ASGIApp, book: FaultBook) -> None:
        self.app = app
        self.book = book

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        request = f"{scope['method']} {scope['path']}" + (f"?{query}" if query else "")
        delay, answer = self.book.take(scope["path"], request)
        if delay is not None:
            await asyncio.sleep(delay.latency_ms / 1000)
        if answer is None:
            await self.app(scope, receive, send)
        elif answer.kind == "drop":
            await _drop_connection(receive, send)
        elif answer.kind == "drop_after":
            await _accept_then_drop(self.app, scope, receive, send, answer.latency_ms)
        else:
            await answer.response(self.book.envelope)(scope, receive, send)


class EmulatorApp(FastAPI):
    """FastAPI with the control routes and with fault injection as the outermost layer.

    Outermost so a dropped connection still has uvicorn's own ``send`` (Starlette's error middleware wraps it).
    An emulator whose protocol has errors of its own passes a ``FaultSpec`` subclass that adds answering kinds
    and renders them in ``response()`` (the Telegram stand-in answers RPC errors in TL); one whose HTTP errors
    have their own JSON shape passes ``error_envelope`` (the 1C emulator's `odata.error`).
    """

    def __init__(
        self, *, fault_spec: type[FaultSpec] = FaultSpec, error_envelope: ErrorEnvelope = error_payload, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.state.faults = FaultBook(error_envelope)
        self.include_router(_control_router(self.state.faults, fault_spec))

    def build_middleware_stack(self) -> ASGIApp:
        return _FaultMiddleware(super().build_middleware_stack(), self.state.faults)

    def add_stats(self, name: str, produce: Callable[[], Any]) -> None:
        """Answer `produce()` under `name` in ``GET /_emulator/stats``."""
        self.state.faults.extra_stats[name] = produce

    def on_reset(self, hook: Callable[[], None]) -> None:
        """Call `hook` on ``POST /_emulator/reset``, after the fault rules and counts are cleared."""
        self.state.faults.reset_hooks.append(hook)
