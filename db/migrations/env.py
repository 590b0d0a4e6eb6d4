import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.types import TypeDecorator

import db.models  # noqa: F401  (registers every table on the metadata)
from db.base import Base
from settings import get_settings

config = context.config


def render_item(kind: str, obj, autogen_context):
    """A TypeDecorator (db/types.py) is written into a migration as the SQL type under it: its checks live in
    the application, and a migration must not import application code that may change after it is written."""
    if kind == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


async def main() -> None:
    url = config.attributes.get("database_url") or get_settings().effective_database_url
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()
    await engine.dispose()


asyncio.run(main())
