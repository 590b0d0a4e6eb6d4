"""Only web URLs enter the database: a feed with planted links read over HTTP by the real worker, and the
column type that refuses what a forgotten path would still try to write."""

import itertools

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import async_sessionmaker
from temporalio.api.enums.v1 import EventType

from activities.news import SourceOutcome
from db.base import Base, utcnow
from db.models import NewsPost, NewsSource
from tests.support.news import ITEMS, NEWS_PER_FEED, discover, drafts_of

PLANTED = 4  # emulators/feeds.py planted_entries: three with no web URL at all, one with a web guid
REJECTED = 3
WEB = r"^https?://"
_slugs = itertools.count(1)


async def source_outcome(temporal, job_id: str) -> SourceOutcome:
    """The one source's outcome as the activity returned it, from the job's history."""
    history = await temporal.get_workflow_handle(job_id).fetch_history()
    [completed] = [
        e.activity_task_completed_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    ]
    [outcome] = await temporal.data_converter.decode(completed.result.payloads, [SourceOutcome])
    return outcome


@pytest.mark.parametrize("fmt", ["rss", "atom"])
async def test_planted_links_never_become_drafts(stack, admin, temporal, database, fmt):
    slug = f"planted{next(_slugs)}{fmt}"
    feed_url = f"{stack.feeds_url}/feeds/{slug}.{fmt}?items={ITEMS}&planted=true"
    source = await admin.ok(
        "POST", "/api/v1/news/sources", 201, json={"name": f"Hostile {slug}", "feed_url": feed_url, "topic": "x"}
    )
    job_id = await discover(admin, [source])
    snap = await admin.wait_job(job_id)
    assert (snap["status"], snap["succeeded"]) == ("completed", 1), snap["errors"]

    urls = [d["url"] for d in (await drafts_of(admin, job_id))["items"]]
    assert all(url.startswith(("http://", "https://")) for url in urls), urls
    # The entry whose link is `javascript:` but whose guid is a web URL is kept, under its guid.
    assert f"{stack.feeds_url}/articles/{slug}/planted-good-guid" in urls
    assert len(urls) == NEWS_PER_FEED + 1 == snap["result"]["drafts_created"]

    # The refused entries are counted, not silently dropped: in the activity's outcome and the job's result.
    outcome = await source_outcome(temporal, job_id)
    assert (outcome.entries, outcome.rejected_links) == (ITEMS + PLANTED, REJECTED)
    assert outcome.skipped == (ITEMS - NEWS_PER_FEED) + REJECTED
    assert snap["result"]["links_rejected"] == REJECTED
    assert f"{REJECTED} entries with a non-web link rejected" in snap["message"]

    async with database.connect() as conn:
        stray = await conn.scalar(text("select count(*) from news_post where url !~ :web"), {"web": WEB})
    assert stray == 0


async def test_the_database_refuses_a_url_that_is_not_a_web_url(database):
    sessions = async_sessionmaker(database, expire_on_commit=False)
    async with sessions() as session:
        source = NewsSource(name="Refusal", feed_url="https://feeds.test/refusal.rss")
        session.add(source)
        await session.commit()
        source_id = source.id  # a rollback below expires the object

        session.add(NewsPost(source_id=source_id, url="javascript:alert(document.cookie)", title="planted"))
        with pytest.raises(StatementError) as through_the_orm:
            await session.commit()
        await session.rollback()

        # The bulk insert the discovery activity uses goes through the same column type.
        row = {"source_id": source_id, "url": "  DATA:text/html,hi", "title": "planted", "summary": "",
               "status": "draft", "created_at": utcnow(), "updated_at": utcnow()}  # fmt: skip
        with pytest.raises(StatementError) as through_core:
            await session.execute(insert(NewsPost).values([row]))
        await session.rollback()

        session.add(NewsSource(name="Hostile source", feed_url="javascript:alert(1)"))
        with pytest.raises(StatementError) as feed_url:
            await session.commit()
        await session.rollback()

    for caught, scheme in ((through_the_orm, "'javascript'"), (through_core, "'data'"), (feed_url, "'javascript'")):
        assert isinstance(caught.value.orig, ValueError)
        assert "not a web URL" in str(caught.value.orig) and f"scheme {scheme}" in str(caught.value.orig)
    async with database.connect() as conn:
        written = await conn.scalar(text("select count(*) from news_post where source_id = :s"), {"s": source_id})
        hostile = await conn.scalar(text("select count(*) from news_source where feed_url !~ :web"), {"web": WEB})
    assert (written, hostile) == (0, 0)


async def test_models_and_migrations_agree(database):
    """WebUrl is a plain VARCHAR(2000) to Alembic: the migrations need no change and autogenerate sees none."""

    def differences(connection):
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)

    async with database.connect() as conn:
        assert await conn.run_sync(differences) == []
