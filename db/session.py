from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from settings import Settings

SessionFactory = async_sessionmaker[AsyncSession]


def make_engine(settings: Settings, **kwargs) -> AsyncEngine:
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(settings.effective_database_url, **kwargs)


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def autocommit(sessions: SessionFactory) -> AsyncIterator[AsyncConnection]:
    """One connection whose every statement commits on its own: a one-statement write is one round trip,
    with no BEGIN and COMMIT around it. For hot loops of single-statement writes (the migration's log)."""
    async with sessions() as session:
        yield await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
