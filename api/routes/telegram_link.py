"""A Longrun user's Telegram link: a one-time code (and the bot link that sends it), and unlinking. The bot's webhook
takes the code (`/start <code>`, api/routes/tracker_webhook.py); a linked user's long jobs report there."""

from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from api.deps import CurrentUser, SessionDep, SettingsDep
from db.telegram_links import new_code, unlink

router = APIRouter(prefix="/api/v1/users/me/telegram", tags=["auth"])


class LinkCode(BaseModel):
    """Send `command` to the bot (or open `deep_link`, which sends it) before `expires_at`; the code links once."""

    code: str
    command: str
    # https://t.me/<bot>?start=<code>; null when the bot's username is not known (LONGRUN_TELEGRAM_BOT_USERNAME unset
    # and the Bot API unreachable): then send `command` to the bot by hand.
    deep_link: str | None
    bot_username: str | None
    expires_at: datetime


@router.post("/link", status_code=status.HTTP_201_CREATED)
async def link_code(request: Request, who: CurrentUser, session: SessionDep, settings: SettingsDep) -> LinkCode:
    """A new link code (your earlier unused ones stop working)."""
    code, expires_at = await new_code(session, who.id, timedelta(minutes=settings.telegram_link_code_minutes))
    username = await request.app.state.job_notifier.bot_username()
    deep_link = f"https://t.me/{username}?start={code}" if username else None
    return LinkCode(
        code=code, command=f"/start {code}", deep_link=deep_link, bot_username=username, expires_at=expires_at
    )


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def unlink_telegram(who: CurrentUser, session: SessionDep) -> Response:
    """Unlink your Telegram account: no more notices (nothing happens when none is linked)."""
    await unlink(session, who.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
