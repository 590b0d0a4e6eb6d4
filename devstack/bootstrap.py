"""`python -m devstack.bootstrap`: the admin user, a few demo news sources and the tracker's default LLM provider,
each created once.

The admin password comes from LONGRUN_ADMIN_PASSWORD; without it one is generated and
printed this once (it is stored only as an argon2 hash).
"""

import asyncio
import secrets

from sqlalchemy import select

from api.auth import hash_password
from db.models import NewsSource, User
from db.session import make_engine, make_session_factory
from db.tracker_providers import ensure_default_provider
from settings import Settings, get_settings

DEMO_SOURCES = [
    ("Tech Daily", "tech.rss", "technology"),
    ("World Wire", "world.atom", "world politics"),
    ("Science Notes", "science.rss", "science"),
    ("Market Watch", "markets.atom", "finance and markets"),
    ("Sports Desk", "sports.rss", "sport"),
]


async def bootstrap(settings: Settings) -> None:
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
        if provider := await ensure_default_provider(session, settings):
            print(f"created LLM provider {provider.name!r} at {provider.base_url}")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(bootstrap(get_settings()))
