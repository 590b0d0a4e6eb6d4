"""News discovery: read one source's feed, let the LLM pick the news, insert the drafts at once."""

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import LLM_ERRORS, llm_failure, outside_failure
from activities.heartbeat import heartbeating, resumed_checkpoint
from clients.feeds import FeedClient, FeedEntry, FeedError
from clients.llm import LLMClient
from db.base import utcnow
from db.models import NewsPost, NewsSource
from db.session import SessionFactory

# Entries per LLM call: one prompt per entry would multiply cost and latency by the feed size.
LLM_BATCH = 20

EDITOR_PROMPT = (
    "You are a news editor. For every numbered feed entry decide whether it is news about the given topic "
    "(not ads, horoscopes, or evergreen content). For each entry answer its index, is_news, a draft headline "
    "and a two-sentence summary in the language of the entry."
)


class DiscoverSourceInput(BaseModel):
    run_id: str
    source_id: int


class SourceOutcome(BaseModel):
    source_id: int
    entries: int = 0
    # Drafts this run holds for the source, counted in the database, so a retried attempt
    # that finds its own earlier inserts still reports them.
    drafts_created: int = 0
    skipped: int = 0
    # Of the skipped: entries with no web URL to file them under (a `javascript:` link...), never stored.
    rejected_links: int = 0


class NewsVerdict(BaseModel):
    index: int
    is_news: bool
    title: str = Field(max_length=500)
    summary: str


class NewsVerdicts(BaseModel):
    items: list[NewsVerdict]


def editor_request(topic: str, entries: dict[int, FeedEntry]) -> str:
    """Entries are numbered by their place in the feed, so verdicts map back unambiguously."""
    lines = [f"Topic: {topic or 'general news'}", "Entries:"]
    for i, entry in entries.items():
        text = " ".join(f"{entry.title} — {entry.summary[:300]}".split())
        lines.append(f"[{i}] {text}")
    return "\n".join(lines)


class NewsActivities:
    def __init__(self, sessions: SessionFactory, feeds: FeedClient, llm: LLMClient) -> None:
        self._sessions = sessions
        self._feeds = feeds
        self._llm = llm

    @activity.defn(name="news.discover_source")
    async def discover_source(self, inp: DiscoverSourceInput) -> SourceOutcome:
        source = await self._load_source(inp.source_id)
        # The checkpoint is how many entries earlier attempts already judged.
        cursor = resumed_checkpoint(0)
        outcome = SourceOutcome(source_id=source.id)
        async with heartbeating(lambda: cursor):
            try:
                feed = await self._feeds.fetch(source.feed_url)
            except FeedError as exc:
                raise outside_failure(exc) from exc
            entries = feed.entries
            outcome.entries = len(entries) + feed.rejected_links
            outcome.skipped = outcome.rejected_links = feed.rejected_links
            while cursor < len(entries):
                batch = entries[cursor : cursor + LLM_BATCH]
                outcome.skipped += await self._draft_batch(inp.run_id, source, batch, cursor)
                cursor += len(batch)
                # Now, not at the next periodic beat: a source's batches take well under one, so a failure of the
                # next batch would send the retry back to the start (the SDK sends this last one with the failure).
                activity.heartbeat(cursor)
        outcome.drafts_created = await self._count_drafts(inp.run_id, source.id)
        return outcome

    async def _load_source(self, source_id: int) -> NewsSource:
        async with self._sessions() as session:
            source = await session.get(NewsSource, source_id)
        if source is None:
            raise ApplicationError(f"news source {source_id} does not exist", type="NotFound", non_retryable=True)
        return source

    async def _draft_batch(self, run_id: str, source: NewsSource, batch: list[FeedEntry], first: int) -> int:
        """Judge one batch and insert its news as drafts; returns how many entries were skipped."""
        known = await self._known_urls(source.id, [e.url for e in batch])
        fresh = {first + i: e for i, e in enumerate(batch) if e.url not in known}
        if not fresh:
            return len(batch)
        try:
            verdicts = await self._llm.parse(EDITOR_PROMPT, editor_request(source.topic, fresh), NewsVerdicts)
        except LLM_ERRORS as exc:
            raise llm_failure(exc) from exc
        now = utcnow()
        rows = [
            {
                "source_id": source.id,
                "run_id": run_id,
                "url": fresh[v.index].url,
                "title": (v.title or fresh[v.index].title)[:500],
                "summary": v.summary,
                "status": "draft",
                "published_at": fresh[v.index].published_at,
                "created_at": now,
                "updated_at": now,
            }
            for v in {v.index: v for v in verdicts.items if v.is_news and v.index in fresh}.values()
        ]
        if rows:
            async with self._sessions() as session, session.begin():
                await session.execute(insert(NewsPost).values(rows).on_conflict_do_nothing())
        return len(batch) - len(rows)

    async def _known_urls(self, source_id: int, urls: list[str]) -> set[str]:
        async with self._sessions() as session:
            found = await session.scalars(
                select(NewsPost.url).where(NewsPost.source_id == source_id, NewsPost.url.in_(urls))
            )
            return set(found)

    async def _count_drafts(self, run_id: str, source_id: int) -> int:
        async with self._sessions() as session:
            return await session.scalar(
                select(func.count()).where(NewsPost.source_id == source_id, NewsPost.run_id == run_id)
            )
