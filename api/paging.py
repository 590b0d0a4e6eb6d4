"""`?limit=&offset=` listings: one page of rows and how many match in all, in two queries."""

from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=1000)]
# Postgres takes OFFSET as a BIGINT.
Offset = Annotated[int, Query(ge=0, le=2**63 - 1)]


async def page_of(
    session: AsyncSession, model: type[T], where: list[Any], order_by: list[Any], limit: int, offset: int
) -> tuple[list[T], int]:
    total = await session.scalar(select(func.count()).select_from(model).where(*where))
    rows = await session.scalars(select(model).where(*where).order_by(*order_by).limit(limit).offset(offset))
    return list(rows), total or 0
