"""`python -m devstack.bootstrap`: the admin user, a few demo news sources, the tracker's default agent configs and
LLM provider, each created once, and the tracker bot's webhook. (Also what `docker compose`'s migrate service runs
after the migrations: the defaults are rows a person edits, so they belong here, created when none exists, not in a
migration that would freeze them.)"""

import asyncio
import secrets

import httpx
from sqlalchemy import select

from api.auth import hash_password
from api.jobs import UNATTENDED_OWNERS
from clients.telegram_bot import BotApiError, TelegramBotClient
from db.models import NewsSource, User
from db.session import make_engine, make_session_factory
from db.tracker_agents import ensure_defaults
from db.tracker_providers import ensure_default_provider
from settings import Settings, get_settings

DEMO_SOURCES = [
    ("Tech Daily", "tech.rss", "technology"),
    ("World Wire", "world.atom", "world politics"),
    ("Science Notes", "science.rss", "science"),
    ("Market Watch", "markets.atom", "finance and markets"),
    ("Sports Desk", "sports.rss", "sport"),
]


class ReservedAdminName(SystemExit):
    """LONGRUN_ADMIN_USERNAME names the owner of unattended jobs: every job the admin started would pass for a
    scheduled or webhook one."""


async def bootstrap(settings: Settings) -> None:
    if settings.admin_username.casefold() in UNATTENDED_OWNERS:
        raise ReservedAdminName(
            f"LONGRUN_ADMIN_USERNAME={settings.admin_username!r} is reserved (jobs started by no person are owned by"
            " it): choose another admin name"
        )
    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    async with sessions() as session, session.begin():
        admin = await session.scalar(select(User).where(User.username == settings.admin_username))
        if admin is None:
            password = settings.admin_password or secrets.token_urlsafe(12)
            password_hash = await hash_password(password)
            session.add(User(username=settings.admin_username, password_hash=password_hash, role="admin"))
            shown = "(from LONGRUN_ADMIN_PASSWORD)" if settings.admin_password else password
            print(f"created admin user {settings.admin_username!r}, password: {shown}")
        if await session.scalar(select(NewsSource.id).limit(1)) is None:
            base = settings.feed_emulator_url.rstrip("/")
            for name, path, topic in DEMO_SOURCES:
                session.add(NewsSource(name=name, feed_url=f"{base}/feeds/{path}?items=12", topic=topic))
            print(f"seeded {len(DEMO_SOURCES)} demo news sources from the feed emulator at {base}")
        for name in await ensure_defaults(session):
            print(f"created agent config {name!r}")
        if provider := await ensure_default_provider(session, settings):
            print(f"created LLM provider {provider.name!r} at {provider.base_url}")
    await engine.dispose()
    await register_webhook(settings)


async def register_webhook(settings: Settings) -> None:
    """Tell the Bot API where to deliver the tracker bot's updates, with the secret the webhook checks. A refusal
    is reported, not fatal: the rest of the stack works without the bot."""
    secret = settings.telegram_webhook_secret.get_secret_value()
    if not settings.telegram_webhook_url or not secret:
        return
    async with httpx.AsyncClient(timeout=settings.telegram_bot_timeout_seconds) as http:
        bot = TelegramBotClient.from_settings(settings, http)
        if not bot.configured:
            return
        try:
            await bot.call("setWebhook", url=settings.telegram_webhook_url, secret_token=secret)
        except (BotApiError, httpx.HTTPError) as exc:
            print(f"could not register the tracker's webhook ({settings.telegram_webhook_url}): {exc}")
            return
    print(f"tracker bot webhook registered: {settings.telegram_webhook_url}")


if __name__ == "__main__":
    asyncio.run(bootstrap(get_settings()))
