"""`POST /webhook/telegram`: where Telegram delivers the tracker bot's updates (seed 004).

Answers as soon as the update is in the inbox (`telegram_update`); the inbox drainer (workflows/tracker_inbox.py),
woken by the NOTIFY the insert sends, takes it from there. The webhook never calls Temporal, so an update that
arrives while Temporal is away is answered and kept like any other. Telegram repeats a delivery it thinks was lost;
the inbox keeps one row per `update_id`, so a repeat adds nothing.
"""

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, status
from pydantic import BaseModel

from api.deps import SessionDep, SettingsDep
from clients.telegram_bot_types import Update
from db import tracker_inbox

router = APIRouter(tags=["tracker"])

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookAnswer(BaseModel):
    ok: bool = True


async def telegram_secret(
    settings: SettingsDep, token: Annotated[str | None, Header(alias=SECRET_HEADER)] = None
) -> None:
    """Checked before the body is read, so an update from anyone but Telegram is refused whatever it holds."""
    expected = settings.telegram_webhook_secret.get_secret_value()
    if not expected:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the webhook has no secret configured; it takes no updates")
    if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"missing or wrong {SECRET_HEADER}")


@router.post("/webhook/telegram", dependencies=[Depends(telegram_secret)])
async def telegram_webhook(update: Update, session: SessionDep) -> WebhookAnswer:
    payload = update.model_dump(mode="json", by_alias=True, exclude_unset=True)
    await tracker_inbox.accept(session, update.update_id, payload)
    return WebhookAnswer()
