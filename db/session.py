import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from settings import Settings

SessionFactory = async_sessionmaker[AsyncSession]

# Behind PgBouncer's transaction pooling each transaction may get another server connection, where a statement this
# one prepared does not exist: asyncpg's own cache and SQLAlchemy's are off, and the statements SQLAlchemy still
# prepares get names no other client connection uses (SQLAlchemy's asyncpg dialect, "Prepared Statement Name with
# PGBouncer").
NO_STATEMENT_CACHE = {
    "statement_cache_size": 0,
    "prepared_statement_cache_size": 0,
    "prepared_statement_name_func": lambda: f"__longrun_{uuid.uuid4().hex}__",
}


def make_engine(settings: Settings, name: str = "longrun", **kwargs) -> AsyncEngine:
    """The process's engine; its connections show in `pg_stat_activity` as `<name>-<pid>`."""
    kwargs.setdefault("connect_args", {"server_settings": {"application_name": f"{name}-{os.getpid()}"}})
    if not settings.database_statement_cache:
        kwargs["connect_args"] = {**kwargs["connect_args"], **NO_STATEMENT_CACHE}
    # Connections are kept, not opened for a burst and closed after it: opening one costs more than many queries.
    kwargs.setdefault("pool_size", settings.worker_database_pool_size)
    kwargs.setdefault("max_overflow", 0)
    # No ping on checkout: with asyncpg it is three round trips (BEGIN, `;`, ROLLBACK), which cost a webhook
    # request more than its insert. A connection Postgres dropped (a restart) fails the one statement that finds it,
    # and SQLAlchemy then replaces every older connection of the pool; activities retry that failure, and the API
    # answers it 503 (`database_unavailable`).
    kwargs.setdefault("pool_pre_ping", False)
    return create_async_engine(settings.effective_database_url, **kwargs)


def is_disconnect(exc: BaseException) -> bool:
    """The database connection was lost (Postgres restarted or dropped it): worth trying again, not a bug."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


# SQLSTATEs of a server that cannot serve now: class 08 (connection exception), and 57P01-57P03 (shutting down,
# crashed, still starting up: "the database system is not yet accepting connections").
UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03")
# A new connection to a server that is down fails in the socket, and asyncpg lets that error through unwrapped:
# refused after a crash (the socket file is left), missing after a clean stop (the file is gone).
SOCKET_ERRORS = (ConnectionRefusedError, ConnectionResetError, FileNotFoundError)


def database_unavailable(exc: BaseException) -> bool:
    """Postgres is down, restarting, or dropped the connection: worth trying again shortly, not a bug."""
    if is_disconnect(exc):
        return True
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None)
        return isinstance(state, str) and state.startswith(UNAVAILABLE_STATES)
    return isinstance(exc, SOCKET_ERRORS) and _raised_connecting(exc)


def _raised_connecting(exc: BaseException) -> bool:
    """Whether asyncpg's connect raised it: a FileNotFoundError from anywhere else is somebody's bug or input."""
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_globals.get("__name__") == "asyncpg.connect_utils":
            return True
        frame = frame.tb_next
    return False


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def autocommit(sessions: SessionFactory) -> AsyncIterator[AsyncConnection]:
    """One connection whose every statement commits on its own: a one-statement write is one round trip,
    with no BEGIN and COMMIT around it. For hot loops of single-statement writes (the migration's log)."""
    async with sessions() as session:
        yield await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
