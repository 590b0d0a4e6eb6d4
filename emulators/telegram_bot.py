"""The Telegram Bot API on loopback (core.telegram.org/bots/api), in its real wire format, plus Telegram's side of
a webhook, so the tracker's webhook, avatar fetching and their retries run offline against the real protocol.

Wire format: ``GET|POST /bot<token>/<method>``, parameters in the query string, a form (urlencoded or multipart)
or a JSON body; answers ``{"ok": true, "result": ...}`` (``setWebhook``/``deleteWebhook`` add ``description``)
or ``{"ok": false, "error_code": 400, "description": "Bad Request: ..."}``, a 429 with
``"parameters": {"retry_after": n}``. Files: ``GET /file/bot<token>/<file_path>``.

Methods:
- ``getMe``: the bot (its id is the token's number).
- ``getUserProfilePhotos(user_id, offset=0, limit=100)``: ``UserProfilePhotos``; each photo a ``PhotoSize`` per size
  (160, 320, 640), newest photo first. Users are generated from their id (``emulators.telegram_bot_data``):
  Cyrillic and Latin names, about a quarter with no photo (``total_count: 0``).
- ``getFile(file_id)``: ``File`` with ``file_path``; the download is a real JPEG of ``file_size`` bytes.
- ``sendMessage(chat_id, text, ...)``: the sent ``Message`` (``chat_id`` a number; ``text`` 1-4096 characters, else
  400 as Telegram answers), recorded for ``GET /_emulator/telegram_bot/sent``.
- ``setWebhook(url, secret_token, max_connections=40, allowed_updates, drop_pending_updates)``, ``getWebhookInfo``,
  ``deleteWebhook(drop_pending_updates)``. Unlike Telegram, an ``http://`` URL is accepted (loopback has no TLS).

A token must look like Telegram's (``<digits>:<letters, digits, _ or ->``), else 401 ``Unauthorized``; bots are
made on first use unless ``strict`` (then only bots added through the control route exist). Unknown methods: 404.

Control (``/_emulator/...``, never faulted; faults.py adds ``faults``, ``reset`` and ``stats``):
- ``POST /_emulator/telegram_bot/deliver {"token"?, "updates": [...], "repeat": [update_id, ...]}`` queues updates
  for the bot's webhook (``token`` may be left out while one bot has a webhook), delivered as Telegram delivers
  them (``emulators.telegram_bot_webhook``): secret header, ``max_connections`` at once, retried with growing pauses
  until 2xx or ``max_attempts``; each id in ``repeat`` is delivered a second time after its first 2xx.
- ``GET /_emulator/telegram_bot/deliveries?token=`` → ``{"webhook", "pending", "delivered", "gave_up",
  "attempts": [{"update_id", "attempt", "copy", "status", "error", "sent_at", "duration_ms"}]}``, every attempt in
  the order answered.
- ``POST /_emulator/telegram_bot/config {"retry_initial_seconds": 0.2, "retry_max_seconds": 5, "max_attempts": 8,
  "timeout_seconds": 10, "strict": false}`` (reset restores them).
- ``POST /_emulator/telegram_bot/bots {"token", "first_name"?, "username"?}``.
- ``GET /_emulator/telegram_bot/sent?token=&chat_id=`` → ``{"messages": [{"chat_id", "text", "message_id", "date",
  "params"}]}``: every ``sendMessage`` answered 200, oldest first (a faulted call is not sent, so not listed).
- ``GET /_emulator/telegram_bot/users/{user_id}`` → ``{"user", "photo_count"}``.
- ``POST /_emulator/telegram_bot/updates {"count", "chat_id"?, "users"?, "seed"?, "first_update_id"?,
  "first_message_id"?, "first_user_id"?}`` → ``{"updates": [...]}``: generated message updates (not delivered).

Faults: the shared rules, matched against the path with or without the token: ``{"path": "/bot/getFile", ...}``
hits every bot's ``getFile``, ``{"path": "/bot123:abc/getFile"}`` one bot's, ``{"path": "/file/bot/"}`` downloads.
A ``status`` fault answers in Telegram's shape (a 429 carries ``parameters.retry_after``).

Run: ``python -m emulators.telegram_bot --host 127.0.0.1 --port 8106``
"""

from __future__ import annotations

import email.policy
import json
import math
import re
import time
from dataclasses import dataclass, field, fields
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from emulators import serve
from emulators import telegram_bot_data as data
from emulators.faults import CONTROL_PREFIX, EmulatorApp, ErrorEnvelope, FaultSpec
from emulators.telegram_bot_webhook import Deliverer, DeliveryConfig, Webhook

TOKEN = re.compile(r"^(\d{1,20}):[A-Za-z0-9_-]{1,100}$")
SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_STATUS_TEXT = {
    400: "Bad Request: emulated fault",
    401: "Unauthorized",
    403: "Forbidden: emulated fault",
    404: "Not Found",
    409: "Conflict: emulated fault",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_BOT_PATH = re.compile(r"^/(file/)?bot[^/]*/")


class TelegramError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def response(self) -> JSONResponse:
        return JSONResponse(error_body(self.status, self.description, self.retry_after), self.status)


def bad_request(description: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: {description}")


def error_body(status: int, description: str, retry_after: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return body


def _tokenless(path: str) -> str:
    """``/bot123:abc/getFile`` -> ``/bot/getFile``, so one fault rule can cover every bot."""
    return _BOT_PATH.sub(lambda m: f"/{m[1] or ''}bot/", path, count=1)


class BotFaultSpec(FaultSpec):
    def matches(self, path: str) -> bool:
        return self.path is None or path.startswith(self.path) or _tokenless(path).startswith(self.path)

    def response(self, envelope: ErrorEnvelope | None = None) -> Response:
        if self.body is not None:
            return super().response()
        retry_after = None if self.retry_after is None else max(1, math.ceil(self.retry_after))
        description = _STATUS_TEXT.get(self.status, f"Error {self.status}: emulated fault")
        if self.status == 429:
            description = f"Too Many Requests: retry after {retry_after or 1}"
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return JSONResponse(error_body(self.status, description, retry_after), self.status, headers=headers)


class ConfigPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    retry_initial_seconds: float | None = Field(None, ge=0)
    retry_max_seconds: float | None = Field(None, ge=0)
    max_attempts: int | None = Field(None, ge=1)
    timeout_seconds: float | None = Field(None, gt=0)
    strict: bool | None = None


class BotSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(pattern=TOKEN.pattern)
    first_name: str | None = None
    username: str | None = None


class DeliverSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str | None = None
    updates: list[Any] = Field(min_length=1)
    repeat: list[int] = Field(default_factory=list)


class GenerateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=100_000)
    chat_id: int = -1001234567890
    chat_title: str = "Команда разработки"
    users: int = Field(20, ge=1, le=10_000)
    seed: int = 0
    first_update_id: int = Field(100_000_001, ge=1)
    first_message_id: int = Field(1, ge=1)
    first_user_id: int = Field(500_000_001, ge=1)


@dataclass
class Bot:
    token: str
    user: dict[str, Any]
    deliverer: Deliverer | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)


class BotState:
    """Every bot of this process. Mutated only between awaits."""

    def __init__(self) -> None:
        self.config = DeliveryConfig()
        self.strict = False
        self.bots: dict[str, Bot] = {}

    def bot(self, token: str) -> Bot:
        bot = self.bots.get(token)
        if bot is not None:
            return bot
        if self.strict or not TOKEN.match(token):
            raise TelegramError(401, "Unauthorized")
        return self.add(token)

    def add(self, token: str, first_name: str | None = None, username: str | None = None) -> Bot:
        bot = self.bots[token] = Bot(token, data.bot_user(int(token.split(":", 1)[0]), first_name, username))
        return bot

    def reset(self) -> None:
        for bot in self.bots.values():
            if bot.deliverer is not None:
                bot.deliverer.close()
        self.bots.clear()
        self.strict = False
        for f in fields(DeliveryConfig):  # in place: deliverers hold this object
            setattr(self.config, f.name, f.default)

    def stats(self) -> dict[str, Any]:
        return {
            "bots": {
                token: {
                    "webhook": bot.deliverer.info() if bot.deliverer else None,
                    "delivered": bot.deliverer.delivered if bot.deliverer else 0,
                    "gave_up": bot.deliverer.gave_up if bot.deliverer else [],
                }
                for token, bot in self.bots.items()
            }
        }


# ----------------------------------------------------------------------------------------- parameters


async def _params(request: Request) -> dict[str, Any]:
    """Telegram takes parameters from the query string, a form or a JSON body, all at once."""
    params: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST" and "application/json" in content_type:
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad_request("JSON body must be an object")
            params.update(body)
    elif request.method == "POST" and "application/x-www-form-urlencoded" in content_type:
        params.update(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    elif request.method == "POST" and "multipart/form-data" in content_type:
        params.update(_multipart_fields(content_type, await request.body()))
    return params


def _multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a multipart form (files are no parameter of any method served here)."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise bad_request("can't parse multipart form")
    found = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name and part.get_filename() is None:
            found[str(name)] = part.get_payload(decode=True).decode("utf-8", "replace")
    return found


def _int(params: dict[str, Any], name: str, default: int | None = None) -> int:
    value = params.get(name)
    if value is None or value == "":
        if default is None:
            raise bad_request(f"{name} is empty")
        return default
    if isinstance(value, bool):
        raise bad_request(f"invalid {name} specified")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def _bool(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1")


def _list(params: dict[str, Any], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON array") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"{name} must be an array of strings")
    return value


# ----------------------------------------------------------------------------------------- methods


def get_me(state: BotState, bot: Bot, params: dict[str, Any]) -> Any:
    return bot.user


def get_user_profile_photos(state: BotState, bot: Bot, params: dict[str, Any]) -> Any:
    user_id = _int(params, "user_id")
    offset = _int(params, "offset", 0)
    limit = _int(params, "limit", 100)
    if user_id <= 0:
        raise bad_request("user not found")
    if offset < 0:
        raise bad_request("invalid offset specified")
    if not 1 <= limit <= 100:
        raise bad_request("limit must be between 1 and 100")
    total = data.photo_count(user_id)
    photos = [data.photo_sizes(user_id, index) for index in range(offset, min(total, offset + limit))]
    return {"total_count": total, "photos": photos}


def get_file(state: BotState, bot: Bot, params: dict[str, Any]) -> Any:
    value = params.get("file_id")
    if not value:
        raise bad_request("file_id is empty")
    photo = data.photo_from_file_id(str(value))
    if photo is None:
        raise bad_request("invalid file_id")
    return {
        "file_id": str(value),
        "file_unique_id": data.file_unique_id(photo),
        "file_size": len(data.photo_bytes(photo)),
        "file_path": data.file_path(photo),
    }


# Telegram's limit on a message's text, after entities are parsed.
MAX_TEXT = 4096


def send_message(state: BotState, bot: Bot, params: dict[str, Any]) -> Any:
    chat_id = _int(params, "chat_id")
    text = params.get("text")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    if chat_id <= 0:  # only private chats (a user's id) exist here
        raise bad_request("chat not found")
    message_id = len(bot.sent) + 1
    date = int(time.time())
    extra = {k: v for k, v in params.items() if k not in ("chat_id", "text")}
    bot.sent.append({"chat_id": chat_id, "text": text, "message_id": message_id, "date": date, "params": extra})
    chat = {"id": chat_id, "type": "private", **{k: v for k, v in data.user(chat_id).items() if k == "first_name"}}
    return {"message_id": message_id, "from": bot.user, "chat": chat, "date": date, "text": text}


def set_webhook(state: BotState, bot: Bot, params: dict[str, Any]) -> tuple[Any, str]:
    url = params.get("url")
    if url is None:
        raise bad_request("url is empty")  # Telegram wants the parameter; an empty string removes the webhook
    url = str(url)
    secret = params.get("secret_token")
    max_connections = _int(params, "max_connections", 40)
    allowed_updates = _list(params, "allowed_updates")
    if url and not re.match(r"^https?://[^/\s]+", url):
        raise bad_request("bad webhook: invalid url")
    if secret is not None and secret != "" and not SECRET.match(str(secret)):
        raise bad_request("secret token contains unallowed characters")
    if not 1 <= max_connections <= 100:
        raise bad_request("max_connections must be between 1 and 100")
    if not url:
        return delete_webhook(state, bot, params)
    hook = Webhook(url, str(secret) if secret else None, max_connections, allowed_updates)
    if bot.deliverer is None:
        bot.deliverer = Deliverer(hook, state.config)
    else:
        bot.deliverer.hook = hook
    if _bool(params, "drop_pending_updates"):
        bot.deliverer.drop_pending()
    return True, "Webhook was set"


def get_webhook_info(state: BotState, bot: Bot, params: dict[str, Any]) -> Any:
    if bot.deliverer is None:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
    return bot.deliverer.info()


def delete_webhook(state: BotState, bot: Bot, params: dict[str, Any]) -> tuple[Any, str]:
    if bot.deliverer is None:
        return True, "Webhook is already deleted"
    # Telegram keeps undelivered updates for getUpdates unless asked to drop them; here nobody would fetch them.
    bot.deliverer.close()
    bot.deliverer = None
    return True, "Webhook was deleted"


METHODS = {
    "getme": get_me,
    "getuserprofilephotos": get_user_profile_photos,
    "getfile": get_file,
    "sendmessage": send_message,
    "setwebhook": set_webhook,
    "getwebhookinfo": get_webhook_info,
    "deletewebhook": delete_webhook,
}


# ----------------------------------------------------------------------------------------- app


def create_app() -> EmulatorApp:
    app = EmulatorApp(title="Telegram Bot API emulator", fault_spec=BotFaultSpec)
    state = BotState()
    app.state.telegram_bot = state
    app.add_stats("telegram_bot", state.stats)
    app.on_reset(state.reset)

    @app.exception_handler(TelegramError)
    async def telegram_error(_: Request, exc: TelegramError) -> JSONResponse:
        return exc.response()

    @app.api_route("/bot{token}/{method}", methods=["GET", "POST"])
    async def call(request: Request, token: str, method: str) -> JSONResponse:
        bot = state.bot(token)
        handler = METHODS.get(method.lower())  # Telegram's method names are case-insensitive
        if handler is None:
            raise TelegramError(404, "Not Found")
        result = handler(state, bot, await _params(request))
        if isinstance(result, tuple):
            value, description = result
            return JSONResponse({"ok": True, "result": value, "description": description})
        return JSONResponse({"ok": True, "result": result})

    @app.get("/file/bot{token}/{path:path}")
    async def download(token: str, path: str) -> Response:
        try:
            state.bot(token)
        except TelegramError:
            raise TelegramError(404, "Not Found") from None
        photo = data.photo_from_path(path)
        if photo is None:
            raise TelegramError(404, "Not Found")
        return Response(data.photo_bytes(photo), media_type="image/jpeg")

    # ------------------------------------------------------------------- control

    control = f"{CONTROL_PREFIX}/telegram_bot"

    @app.post(f"{control}/config")
    async def configure(patch: ConfigPatch) -> dict[str, Any]:
        changes = patch.model_dump(exclude_none=True)
        if "strict" in changes:
            state.strict = changes.pop("strict")
        for key, value in changes.items():
            setattr(state.config, key, value)
        return {**state.config.__dict__, "strict": state.strict}

    @app.post(f"{control}/bots")
    async def add_bot(spec: BotSpec) -> dict[str, Any]:
        return state.add(spec.token, spec.first_name, spec.username).user

    @app.get(f"{control}/sent")
    async def sent(token: str | None = None, chat_id: int | None = None) -> dict[str, Any]:
        bots = [state.bots[token]] if token in state.bots else [] if token else list(state.bots.values())
        messages = [m for bot in bots for m in bot.sent if chat_id is None or m["chat_id"] == chat_id]
        return {"messages": messages}

    @app.get(f"{control}/users/{{user_id}}")
    async def get_user(user_id: int) -> dict[str, Any]:
        return {"user": data.user(user_id), "photo_count": data.photo_count(user_id)}

    @app.post(f"{control}/updates")
    async def generate(spec: GenerateSpec) -> dict[str, Any]:
        return {"updates": data.message_updates(**spec.model_dump())}

    def hooked(token: str | None) -> Bot:
        if token is not None:
            bot = state.bots.get(token)
            if bot is None or bot.deliverer is None:
                raise _ControlError("token", "this bot has no webhook: call setWebhook first")
            return bot
        with_hooks = [bot for bot in state.bots.values() if bot.deliverer is not None]
        if len(with_hooks) != 1:
            raise _ControlError("token", f"{len(with_hooks)} bots have a webhook: name the bot by its token")
        return with_hooks[0]

    @app.post(f"{control}/deliver")
    async def deliver(spec: DeliverSpec) -> dict[str, Any]:
        bot = hooked(spec.token)
        assert bot.deliverer is not None
        bot.deliverer.add(spec.updates, set(spec.repeat))
        return {"queued": len(spec.updates), "pending": bot.deliverer.pending}

    @app.get(f"{control}/deliveries")
    async def deliveries(token: str | None = None) -> dict[str, Any]:
        deliverer = hooked(token).deliverer
        assert deliverer is not None
        return {
            "webhook": deliverer.info(),
            "pending": deliverer.pending,
            "delivered": deliverer.delivered,
            "gave_up": deliverer.gave_up,
            "attempts": list(deliverer.attempts),
        }

    @app.exception_handler(_ControlError)
    async def control_error(_: Request, exc: _ControlError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": [exc.field], "msg": exc.message, "type": "value_error"}]}, 422)

    return app


class _ControlError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


if __name__ == "__main__":
    serve.run(create_app, description="Telegram Bot API emulator", default_port=8106)
