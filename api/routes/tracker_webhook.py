"""`POST /webhook/telegram`: where Telegram delivers the tracker bot's updates (seed 004).

Answers as soon as the update is in the inbox (`telegram_update`): its workflow is started after the answer, and if
that start is lost (Temporal away, the process killed) the inbox sweep starts it later. Telegram repeats a delivery
it thinks was lost; the inbox keeps one row per `update_id`, so a repeat starts nothing.
"""

import asyncio
import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Header, HTTPException, status
from pydantic import BaseModel

from api.deps import JobsDep, SessionDep, SettingsDep
from api.jobs import Jobs
from clients.telegram_bot_types import Update
from db import tracker_inbox
from workflows.tracker import update_job

router = APIRouter(tags=["tracker"])
log = logging.getLogger("longrun.tracker")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# A start that takes longer is left to the inbox sweep rather than holding a connection.
START_TIMEOUT_SECONDS = 5.0


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
async def telegram_webhook(
    update: Update, session: SessionDep, jobs: JobsDep, background: BackgroundTasks
) -> WebhookAnswer:
    payload = update.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if await tracker_inbox.accept(session, update.update_id, payload):
        background.add_task(start_update, jobs, update.update_id)
    return WebhookAnswer()


async def start_update(jobs: Jobs, update_id: int) -> None:
    try:
        await asyncio.wait_for(jobs.start(update_job(update_id)), START_TIMEOUT_SECONDS)
    except Exception as exc:  # whatever stopped it, the update waits in the inbox for the sweep
        log.warning("update %s waits in the inbox for the sweep: %s", update_id, exc)
