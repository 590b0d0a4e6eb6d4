"""`POST /webhook/telegram`: where Telegram delivers the tracker bot's updates.

Answers as soon as the update is committed to the inbox (`telegram_update`), in one transaction with the updates
arriving with it (api/inbox_group.py: group commit, `tracker_webhook_group_ms`); the inbox drainer
(workflows/tracker_inbox.py), woken by the NOTIFY the insert sends, takes it from there. The webhook never calls
Temporal, so an update that arrives while Temporal is away is answered and kept like any other. Telegram repeats a
delivery it thinks was lost; the inbox keeps one row per `update_id`, so a repeat adds nothing.

A private `/start <code>` is a Longrun user linking their Telegram (api/routes/telegram_link.py): it is answered here
(the reply goes through the bot's outbox) and never reaches the inbox, so the code is stored nowhere.
"""

import hmac
import json
import re

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import SessionDep, SettingsDep
from db import telegram_outbox
from db.telegram_links import link
from domain.job_notices import LINKED, UNKNOWN_CODE, language_of
from domain.telegram_bot_types import Message, Update
from settings import Settings

router = APIRouter(tags=["tracker"])

PATH = "/webhook/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# `/start <code>` as a deep link sends it (the bot's name may follow the command in a group; links are private only).
START = re.compile(r"^/start(?:@\w+)?\s+([A-Za-z0-9_-]{1,64})\s*$")


class WebhookAnswer(BaseModel):
    ok: bool = True


def secret_refused(settings: Settings, token: str | None) -> str | None:
    """Why a request with this secret header may not deliver updates; None when it may."""
    expected = settings.telegram_webhook_secret.get_secret_value()
    if not expected:
        return "the webhook has no secret configured; it takes no updates"
    if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
        return f"missing or wrong {SECRET_HEADER}"
    return None


class SecretFirst:
    """The secret is checked in front of the app, before a byte of the body is read (FastAPI reads and parses a
    body before any dependency runs): an update from anyone but Telegram is refused whatever it holds or weighs."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH:
            refused = secret_refused(self.settings, Headers(scope=scope).get(SECRET_HEADER))
            if refused is not None:
                # Connection: close, as the body is left unread.
                await JSONResponse({"detail": refused}, 401, headers={"Connection": "close"})(scope, receive, send)
                return
        await self.app(scope, receive, send)


@router.post(PATH, responses={401: {"description": f"missing or wrong {SECRET_HEADER} (checked before the body)"}})
async def telegram_webhook(
    update: Update, request: Request, session: SessionDep, settings: SettingsDep
) -> WebhookAnswer:
    if await linked_here(update.message, session, settings):
        return WebhookAnswer()
    payload = update.model_dump(mode="json", by_alias=True, exclude_unset=True)
    await request.app.state.inbox_groups.accept(update.update_id, json.dumps(payload, ensure_ascii=False))
    return WebhookAnswer()


async def linked_here(message: Message | None, session: SessionDep, settings: Settings) -> bool:
    """Link the sender's account when `message` is a private `/start <code>`, and queue the bot's reply; False for
    every other message (the tracker's)."""
    if message is None or message.chat.type != "private" or message.from_ is None or not message.text:
        return False
    match = START.match(message.text)
    if match is None:
        return False
    sender = message.from_
    language = language_of(sender.language_code, settings.job_notice_language)
    linked = await link(session, match[1], sender.id, sender.language_code)
    if linked is None:
        await telegram_outbox.enqueue(session, message.chat.id, UNKNOWN_CODE[language], "link")
    elif linked.new:
        reply = LINKED[language].format(username=linked.username)
        await telegram_outbox.enqueue(session, message.chat.id, reply, "link")
    await session.commit()
    return True
