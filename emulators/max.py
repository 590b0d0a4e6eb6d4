"""The MAX Bot API on loopback: bots, channels, uploads and messages in the real wire shapes, with MAX's per-token
rate limit and its attachments that take a while to process, so the MAX client runs offline against the real
protocol and tests can watch (and break) what it does.

API (`Authorization: <bot token>`; errors are `{"code": "...", "message": "..."}`):
- `GET /me`: the bot. `GET /chats/{chat_id}`: a channel.
- `POST /uploads?type=image|video|audio|file` → `{"url": "<this server>/upload/<id>"}`, plus `"token"` for video
  and audio. `POST <url>` with the file (multipart field `data`, or the raw body) answers images
  `{"photos": {"<id>": {"token": ...}}}`, files `{"fileId": n, "token": ...}`, video and audio `<retval>1</retval>`.
  An uploaded attachment is `attachment.not.ready` (400) for `not_ready_seconds[type]` after its upload.
- `POST /messages?chat_id=` with `{"text", "format", "attachments", "notify"}` → `{"message": {...}}`. Markdown is
  stored as MAX stores it: plain text plus `markup` (emulators/max_markdown.py). Text over 4000 UTF-16 units, more
  than 12 attachments, unknown or foreign attachment tokens: 400 `proto.payload`.
- `GET /messages?chat_id=&count=&from=&to=` (or `message_ids=a,b`) → `{"messages": [...]}`, newest first; `from`
  and `to` are Unix milliseconds, the newest and oldest to include.

Every request of a token (uploads too) counts toward `rate_limit_per_second` over a sliding second; over it the
answer is 429 `too.many.requests` with Retry-After. MAX also takes only 2 messages/s into one chat: that limit is
`chat_messages_per_second`, off (0) unless configured, so a load test can push one chat to the token's limit.
Unknown tokens and chats are created on first use unless `strict` (then 401 `verify.token`, 404
`chat.not.found`).

Control (`/_emulator/...`, never limited or faulted; faults.py adds `faults`, `reset` and `stats`):
- `POST /_emulator/max/config` `{"rate_limit_per_second": 30, "chat_messages_per_second": 0,
  "not_ready_seconds": 1.0 | {"video": 2.0}, "strict": false, "text_limit": 4000, "max_attachments": 12}`
  changes those knobs (reset restores them).
- `POST /_emulator/max/bots` `{"token", "name"}`, `POST /_emulator/max/chats` `{"chat_id", "title"}`.
- `GET /_emulator/max/chats/{chat_id}/messages`: every message of a chat, oldest first.
- `GET /_emulator/max/arrivals?token=`: when each request of a token arrived (monotonic seconds, the latest
  100,000) and its endpoint (`endpoints`, in step), for a benchmark to look at every window, not only the worst,
  and at what ended each pause.
- `GET /_emulator/stats` adds `"max": {"tokens": {token: {"requests", "rejected", "max_per_second",
  "by_endpoint"}}, "chats": {chat_id: {"title", "messages": [...]}}}`: `max_per_second` is the most requests the
  token made within any one second (rejected ones included), what a rate-limit test asserts on.

Run: `python -m emulators.max --host 127.0.0.1 --port 8104`
"""

from __future__ import annotations

import itertools
import secrets
import time
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators import serve
from emulators.faults import CONTROL_PREFIX, EmulatorApp
from emulators.max_markdown import parse

KINDS = ("image", "video", "audio", "file")
DEFAULT_NOT_READY = {"image": 0.0, "video": 1.0, "audio": 0.5, "file": 0.5}
NOT_READY_MESSAGE = "Key: errors.process.attachment.file.not.processed"
ARRIVAL_LOG = 100_000


class MaxApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"code": self.code, "message": self.message}, self.status, headers=self.headers)


class ConfigPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate_limit_per_second: int | None = Field(None, ge=0)
    chat_messages_per_second: int | None = Field(None, ge=0)
    not_ready_seconds: float | dict[str, float] | None = None
    strict: bool | None = None
    text_limit: int | None = Field(None, ge=1)
    max_attachments: int | None = Field(None, ge=1)


class BotSpec(BaseModel):
    token: str = Field(min_length=1)
    name: str | None = None


class ChatSpec(BaseModel):
    chat_id: int
    title: str | None = None
    type: str = "channel"


@dataclass
class Config:
    rate_limit_per_second: int = 30  # 0: no limit
    chat_messages_per_second: int = 0  # 0: no limit (MAX's is 2)
    not_ready_seconds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_NOT_READY))
    strict: bool = False
    text_limit: int = 4000
    max_attachments: int = 12


def _trim(window: deque[float], now: float) -> None:
    """Forget the moments of `window` (monotonic seconds, oldest first) that are over a second old."""
    while window and window[0] <= now - 1.0:
        window.popleft()


def _admit(window: deque[float], now: float, limit: int) -> float | None:
    """Take one more event into the last second's `window` unless it holds `limit` already (0: no limit): None
    when taken, else the seconds until one could be."""
    _trim(window, now)
    if limit and len(window) >= limit:
        return max(0.001, window[0] + 1.0 - now)
    window.append(now)
    return None


@dataclass
class Bot:
    token: str
    user_id: int
    name: str

    def wire(self) -> dict[str, Any]:
        username = f"bot{self.user_id}"
        return {
            "user_id": self.user_id,
            "first_name": self.name,
            "last_name": None,
            "name": self.name,
            "username": username,
            "is_bot": True,
            "last_activity_time": int(time.time() * 1000),
            "description": None,
        }


@dataclass
class Chat:
    chat_id: int
    title: str
    type: str = "channel"
    messages: list[dict[str, Any]] = field(default_factory=list)
    sends: deque[float] = field(default_factory=deque)  # accepted sends of the last second (monotonic)

    def wire(self) -> dict[str, Any]:
        last = self.messages[-1]["timestamp"] if self.messages else int(time.time() * 1000)
        return {
            "chat_id": self.chat_id,
            "type": self.type,
            "status": "active",
            "title": self.title,
            "icon": None,
            "last_event_time": last,
            "participants_count": 1,
            "is_public": False,
            "description": None,
            "messages_count": len(self.messages),
        }


@dataclass
class Attachment:
    token: str
    kind: str
    owner: int  # the bot's user_id: another bot cannot send it
    ready_at: float = float("inf")  # monotonic; infinite until the file is uploaded
    file_name: str | None = None
    size: int = 0
    number: int = 0


@dataclass
class Upload:
    kind: str
    owner: str  # the token that asked for it
    token: str  # the attachment token it will produce
    used: bool = False


@dataclass
class TokenStats:
    requests: int = 0
    rejected: int = 0
    max_per_second: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    arrivals: deque[float] = field(default_factory=deque)  # every request of the last second
    accepted: deque[float] = field(default_factory=deque)  # the ones that were let through
    # Every arrival (monotonic seconds), the latest ARRIVAL_LOG of them: for a benchmark's window analysis.
    log: deque[float] = field(default_factory=lambda: deque(maxlen=ARRIVAL_LOG))
    log_endpoints: deque[str] = field(default_factory=lambda: deque(maxlen=ARRIVAL_LOG))

    def arrive(self, endpoint: str, now: float, limit: int) -> float | None:
        """Count a request; None when it may go on, else the seconds until it would have been allowed."""
        self.requests += 1
        self.by_endpoint[endpoint] += 1
        _trim(self.arrivals, now)
        self.arrivals.append(now)
        self.log.append(now)
        self.log_endpoints.append(endpoint)
        self.max_per_second = max(self.max_per_second, len(self.arrivals))
        wait = _admit(self.accepted, now, limit)
        if wait is not None:
            self.rejected += 1
        return wait

    def wire(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "rejected": self.rejected,
            "max_per_second": self.max_per_second,
            "by_endpoint": dict(self.by_endpoint),
        }


class MaxState:
    """Everything one emulator process knows. Mutated only between awaits, so requests never interleave in it."""

    def __init__(self) -> None:
        self.config = Config()
        self.bots: dict[str, Bot] = {}
        self.chats: dict[int, Chat] = {}
        self.uploads: dict[str, Upload] = {}
        self.attachments: dict[str, Attachment] = {}
        self.tokens: dict[str, TokenStats] = {}
        self.numbers = itertools.count(1)
        self.last_timestamp = 0

    def bot(self, token: str) -> Bot:
        bot = self.bots.get(token)
        if bot is None:
            if self.config.strict:
                raise MaxApiError(401, "verify.token", "Invalid access_token")
            bot = self.add_bot(token, None)
        return bot

    def add_bot(self, token: str, name: str | None) -> Bot:
        user_id = 100_000 + zlib.crc32(token.encode()) % 900_000
        bot = self.bots[token] = Bot(token, user_id, name or f"Bot {user_id}")
        return bot

    def chat(self, chat_id: int) -> Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            if self.config.strict:
                raise MaxApiError(404, "chat.not.found", f"Chat {chat_id} not found")
            chat = self.chats[chat_id] = Chat(chat_id, f"Channel {chat_id}")
        return chat

    def timestamp(self) -> int:
        """Unix milliseconds, never going back (a channel's messages stay in order)."""
        self.last_timestamp = max(self.last_timestamp, int(time.time() * 1000))
        return self.last_timestamp

    def stats(self) -> dict[str, Any]:
        return {
            "tokens": {token: s.wire() for token, s in self.tokens.items()},
            "chats": {str(c.chat_id): {"title": c.title, "messages": c.messages} for c in self.chats.values()},
        }


def _endpoint(method: str, path: str) -> str:
    """The route a path belongs to, for per-endpoint counts: ids dropped."""
    parts = path.strip("/").split("/")
    return f"{method} /{parts[0]}" if parts and parts[0] else f"{method} /"


class _Gate:
    """Authentication and the per-token rate limit, ahead of every API route (not the control routes).

    It runs as soon as a request's headers are read, so its clock is the arrival time the rate limit is about.
    """

    def __init__(self, app: ASGIApp, state: MaxState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        now = time.monotonic()
        try:
            token = self._token(scope)
            bot = self.state.bot(token)
        except MaxApiError as exc:
            await exc.response()(scope, receive, send)
            return
        stats = self.state.tokens.setdefault(token, TokenStats())
        wait = stats.arrive(_endpoint(scope["method"], scope["path"]), now, self.state.config.rate_limit_per_second)
        if wait is not None:
            retry = {"Retry-After": f"{wait:.3f}"}
            await MaxApiError(429, "too.many.requests", "Too many requests", retry).response()(scope, receive, send)
            return
        scope.setdefault("state", {})["max_bot"] = bot
        await self.app(scope, receive, send)

    def _token(self, scope: Scope) -> str:
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode("latin-1").strip()
        if not token and scope["path"].startswith("/upload/"):
            upload = self.state.uploads.get(scope["path"].rsplit("/", 1)[-1])
            token = upload.owner if upload else ""
        if not token:
            raise MaxApiError(401, "verify.token", "No access_token")
        return token


def create_app() -> EmulatorApp:
    app = EmulatorApp(title="MAX Bot API emulator")
    state = MaxState()
    app.state.max = state
    app.add_middleware(_Gate, state=state)
    app.add_stats("max", state.stats)

    def reset() -> None:
        fresh = MaxState()
        state.__dict__.update(fresh.__dict__)

    app.on_reset(reset)

    @app.exception_handler(MaxApiError)
    async def max_error(_: Request, exc: MaxApiError) -> JSONResponse:
        return exc.response()

    def bot_of(request: Request) -> Bot:
        """The bot `_Gate` authenticated the request as."""
        return request.scope["state"]["max_bot"]

    @app.get("/me")
    async def me(request: Request) -> dict[str, Any]:
        return bot_of(request).wire()

    @app.get("/chats/{chat_id}")
    async def get_chat(chat_id: int) -> dict[str, Any]:
        return state.chat(chat_id).wire()

    @app.post("/uploads")
    async def new_upload(request: Request, type: str = "") -> dict[str, Any]:  # noqa: A002 (the API's name)
        bot = bot_of(request)
        if type not in KINDS:
            raise MaxApiError(400, "proto.payload", f"type: must be one of {', '.join(KINDS)}")
        upload_id = secrets.token_hex(12)
        token = secrets.token_urlsafe(24)
        state.uploads[upload_id] = Upload(type, bot.token, token)
        state.attachments[token] = Attachment(token, type, bot.user_id, number=next(state.numbers))
        answer: dict[str, Any] = {"url": f"{str(request.base_url).rstrip('/')}/upload/{upload_id}"}
        if type in ("video", "audio"):
            answer["token"] = token
        return answer

    @app.post("/upload/{upload_id}")
    async def upload_file(request: Request, upload_id: str) -> Response:
        upload = state.uploads.get(upload_id)
        if upload is None or upload.used:
            raise MaxApiError(400, "upload.invalid", "Upload URL is unknown or already used")
        upload.used = True  # before the first await: a second request on the same URL is refused
        file_name, size = await _read_file(request)
        attachment = state.attachments[upload.token]
        attachment.file_name, attachment.size = file_name, size
        attachment.ready_at = time.monotonic() + state.config.not_ready_seconds.get(upload.kind, 0.0)
        if upload.kind == "image":
            return JSONResponse({"photos": {secrets.token_urlsafe(16): {"token": upload.token}}})
        if upload.kind == "file":
            return JSONResponse({"fileId": attachment.number, "token": upload.token})
        return PlainTextResponse("<retval>1</retval>")

    @app.post("/messages")
    async def send_message(request: Request, chat_id: int | None = None) -> dict[str, Any]:
        bot = bot_of(request)
        if chat_id is None:
            raise MaxApiError(400, "proto.payload", "chat_id is required (user_id is not emulated)")
        body = await _json(request)
        chat = state.chat(chat_id)
        message = _new_message(state, bot, chat, body, str(request.base_url).rstrip("/"))
        wait = _admit(chat.sends, time.monotonic(), state.config.chat_messages_per_second)
        if wait is not None:
            raise MaxApiError(
                429, "too.many.requests", "Too many messages to this chat", {"Retry-After": f"{wait:.3f}"}
            )
        chat.messages.append(message)
        return {"message": message}

    @app.get("/messages")
    async def get_messages(
        request: Request,
        chat_id: int | None = None,
        message_ids: str | None = None,
        count: int = 50,
        to: int | None = None,
    ) -> dict[str, Any]:
        from_ = request.query_params.get("from")  # a Python keyword: read by hand
        if not 1 <= count <= 100:
            raise MaxApiError(400, "proto.payload", "count: must be between 1 and 100")
        if message_ids:
            wanted = set(message_ids.split(","))
            found = [m for c in state.chats.values() for m in c.messages if m["body"]["mid"] in wanted]
            return {"messages": found}
        if chat_id is None:
            raise MaxApiError(400, "proto.payload", "chat_id or message_ids is required")
        newest = int(from_) if from_ is not None else None
        picked = [
            m
            for m in reversed(state.chat(chat_id).messages)
            if (newest is None or m["timestamp"] <= newest) and (to is None or m["timestamp"] >= to)
        ]
        return {"messages": picked[:count]}

    # ----------------------------------------------------------------------- control

    @app.post(f"{CONTROL_PREFIX}/max/config")
    async def configure(patch: ConfigPatch) -> dict[str, Any]:
        changes = patch.model_dump(exclude_none=True)
        ready = changes.pop("not_ready_seconds", None)
        if isinstance(ready, dict):
            state.config.not_ready_seconds.update(ready)
        elif ready is not None:
            state.config.not_ready_seconds = dict.fromkeys(KINDS, float(ready))
        for key, value in changes.items():
            setattr(state.config, key, value)
        return state.config.__dict__

    @app.post(f"{CONTROL_PREFIX}/max/bots")
    async def add_bot(spec: BotSpec) -> dict[str, Any]:
        return state.add_bot(spec.token, spec.name).wire()

    @app.post(f"{CONTROL_PREFIX}/max/chats")
    async def add_chat(spec: ChatSpec) -> dict[str, Any]:
        chat = state.chats.setdefault(spec.chat_id, Chat(spec.chat_id, spec.title or f"Channel {spec.chat_id}"))
        chat.title, chat.type = spec.title or chat.title, spec.type
        return chat.wire()

    @app.get(f"{CONTROL_PREFIX}/max/arrivals")
    async def arrivals(token: str) -> dict[str, Any]:
        stats = state.tokens.get(token)
        if stats is None:
            return {"arrivals": [], "endpoints": []}
        return {"arrivals": list(stats.log), "endpoints": list(stats.log_endpoints)}

    @app.get(f"{CONTROL_PREFIX}/max/chats/{{chat_id}}/messages")
    async def chat_messages(chat_id: int) -> dict[str, Any]:
        chat = state.chats.get(chat_id)
        return {"messages": chat.messages if chat else []}

    return app


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise MaxApiError(400, "proto.payload", "body is not JSON") from None
    if not isinstance(body, dict):
        raise MaxApiError(400, "proto.payload", "body must be a JSON object")
    return body


async def _read_file(request: Request) -> tuple[str | None, int]:
    """The uploaded file's name and size, read as a stream (the body is never held whole)."""
    content_type = request.headers.get("content-type", "")
    boundary = content_type.split("boundary=", 1)[1].strip('"') if "boundary=" in content_type else None
    head = b""
    total = 0
    async for chunk in request.stream():
        if len(head) < 8192:
            head += chunk[: 8192 - len(head)]
        total += len(chunk)
    if boundary is None:
        return None, total
    header_end = head.find(b"\r\n\r\n")
    if header_end == -1:
        raise MaxApiError(400, "proto.payload", "multipart body without part headers")
    headers = head[:header_end].decode("utf-8", "replace")
    file_name = None
    if 'filename="' in headers:
        file_name = headers.split('filename="', 1)[1].split('"', 1)[0]
    tail = len(f"\r\n--{boundary}--\r\n")
    return file_name, max(0, total - header_end - 4 - tail)


def _new_message(state: MaxState, bot: Bot, chat: Chat, body: dict[str, Any], base_url: str) -> dict[str, Any]:
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise MaxApiError(400, "proto.payload", "text: must be a string")
    text = text or ""
    if len(text.encode("utf-16-le")) // 2 > state.config.text_limit:
        raise MaxApiError(400, "proto.payload", f"text: size must be between 0 and {state.config.text_limit}")
    attachments = body.get("attachments") or []
    if not isinstance(attachments, list) or len(attachments) > state.config.max_attachments:
        raise MaxApiError(400, "proto.payload", f"attachments: at most {state.config.max_attachments}")
    if not text and not attachments:
        raise MaxApiError(400, "proto.payload", "message is empty")
    wired = [_attachment(state, bot, a, base_url) for a in attachments]
    if body.get("format") == "markdown":
        parsed = parse(text)
        plain, markup = parsed.text, parsed.markup
    else:
        plain, markup = text, []
    timestamp = state.timestamp()
    number = next(state.numbers)
    return {
        "sender": bot.wire(),
        "recipient": {"chat_id": chat.chat_id, "chat_type": chat.type, "user_id": None},
        "timestamp": timestamp,
        "link": None,
        "body": {
            "mid": f"mid.{chat.chat_id & 0xFFFFFFFF:08x}{number:024x}",
            "seq": number,
            "text": plain or None,
            "attachments": wired,
            "markup": markup,
        },
        "stat": {"views": 0},
        "url": f"https://max.ru/c/{chat.chat_id}/{number}",
    }


def _attachment(state: MaxState, bot: Bot, given: Any, base_url: str) -> dict[str, Any]:
    """An attachment of a new message as MAX shows it, or the 400 MAX answers for it."""
    if not isinstance(given, dict) or given.get("type") not in KINDS or not isinstance(given.get("payload"), dict):
        raise MaxApiError(400, "proto.payload", f"attachments: unsupported attachment {given!r:.100}")
    kind, payload = given["type"], given["payload"]
    token = payload.get("token")
    if token is None and kind == "image" and isinstance(payload.get("photos"), dict) and payload["photos"]:
        token = next(iter(payload["photos"].values())).get("token")
    attachment = state.attachments.get(token) if isinstance(token, str) else None
    if attachment is None or attachment.owner != bot.user_id or attachment.kind != kind:
        raise MaxApiError(400, "proto.payload", f"attachments: invalid {kind} token")
    if time.monotonic() < attachment.ready_at:
        raise MaxApiError(400, "attachment.not.ready", NOT_READY_MESSAGE)
    url = f"{base_url}/files/{attachment.number}"
    if kind == "image":
        return {"type": "image", "payload": {"photo_id": attachment.number, "token": token, "url": url}}
    if kind == "file":
        wired = {"type": "file", "payload": {"url": url, "token": token}}
        return {**wired, "filename": attachment.file_name or "file", "size": attachment.size}
    extra = {"thumbnail": None, "width": 0, "height": 0, "duration": 0} if kind == "video" else {}
    return {"type": kind, "payload": {"url": url, "token": token}, **extra}


if __name__ == "__main__":
    serve.run(create_app, description="MAX Bot API emulator", default_port=8104)
