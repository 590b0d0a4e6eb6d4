"""News discovery: read one source's feed, let the LLM pick the news, insert the drafts at once."""

import base64
import hashlib
import itertools
from collections.abc import Iterable
from typing import NoReturn

from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.feeds import FeedClient, FeedEntry, FeedError
from clients.llm import LLMClient
from db.base import utcnow
from db.models import NewsPost, NewsSource
from db.session import SessionFactory
from runtime.errors import LLM_ERRORS, Faults, cause_unless_counted, llm_failure, outside_failure
from runtime.heartbeat import heartbeating, resumed_checkpoint

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
    # The transient faults the source's failed attempts met, by kind ("HTTP 503": 3).
    faults: dict[str, int] = Field(default_factory=dict)


class SourceRun(BaseModel):
    """How a source's part of a run ended, kept on the source (its last run) for the sources listing."""

    run_id: str
    source_id: int
    entries: int | None = None
    drafts: int | None = None
    error: str | None = None


# Bytes of a url's digest in the checkpoint: 6 encode to exactly 8 base64 characters, so digests concatenate
# without padding; at 48 bits, a new entry taken for one of 100,000 judged ones is a 1-in-3-billion chance.
DIGEST_BYTES = 6
DIGEST_CHARS = 8
# Digests a checkpoint keeps (800 KB, well under Temporal's 2 MB payload limit, which a feed of small entries
# within LONGRUN_FEED_MAX_BYTES could pass). Entries judged past it are judged again by a retry: a cost, not a loss.
MAX_DIGESTS = 100_000


def url_digest(url: str) -> str:
    return base64.b64encode(hashlib.blake2b(url.encode(), digest_size=DIGEST_BYTES).digest()).decode()


class SourceCheckpoint(Faults):
    """What earlier attempts did, heartbeated after every batch: the entries judged, by identity (a digest of their
    url) and not by position, since a retry fetches the feed again and new entries may have come in, at the top or
    anywhere else (a position, or a run named by its ends, would then skip them). A digest and not the url: a feed
    may hold thousands of entries, and the checkpoint goes with every heartbeat."""

    # The judged entries' `url_digest`s, concatenated.
    digests: str = ""
    # How attempts before digests recorded what they judged: runs of entries next to each other in the feed, named
    # by their first and last url. Read, so that a retry of such an attempt goes on where it stopped; never written.
    judged: list[tuple[str, str]] = Field(default_factory=list)

    def judged_in(self, entries: list[FeedEntry]) -> list[bool]:
        """Which of `entries` (the feed as fetched now) earlier attempts judged."""
        known = {self.digests[at : at + DIGEST_CHARS] for at in range(0, len(self.digests), DIGEST_CHARS)}
        done = [url_digest(entry.url) in known for entry in entries]
        # An old run whose ends are no longer in the feed, or no longer in order, counts as not judged: judging an
        # entry twice costs an LLM call, while skipping one would lose it.
        where = {}
        for position, entry in enumerate(entries):
            where.setdefault(entry.url, position)
        for first, last in self.judged:
            start, end = where.get(first), where.get(last)
            if start is not None and end is not None and start <= end:
                done[start : end + 1] = [True] * (end + 1 - start)
        return done

    def resume(self, entries: list[FeedEntry]) -> list[bool]:
        """`judged_in(entries)`, and from now on the checkpoint names just those (an old one's runs as digests)."""
        done = self.judged_in(entries)
        self.digests, self.judged = "", []
        self.record(entry for entry, judged in zip(entries, done, strict=True) if judged)
        return done

    def record(self, judged: Iterable[FeedEntry]) -> None:
        room = MAX_DIGESTS - len(self.digests) // DIGEST_CHARS
        self.digests += "".join(url_digest(entry.url) for entry in itertools.islice(judged, max(0, room)))


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
        checkpoint = resumed_checkpoint(None)
        # A checkpoint of another shape (a position, from before checkpoints named entries) is read as nothing done.
        checkpoint = SourceCheckpoint.model_validate(checkpoint) if isinstance(checkpoint, dict) else SourceCheckpoint()
        outcome = SourceOutcome(source_id=source.id)
        async with heartbeating(lambda: checkpoint):
            try:
                feed = await self._feeds.fetch(source.feed_url)
            except FeedError as exc:
                self._fail(outside_failure(exc, checkpoint), checkpoint, exc)
            entries = feed.entries
            outcome.entries = len(entries) + feed.rejected_links
            outcome.rejected_links = feed.rejected_links
            done = checkpoint.resume(entries)
            todo = [position for position, judged in enumerate(done) if not judged]
            for at in range(0, len(todo), LLM_BATCH):
                batch = todo[at : at + LLM_BATCH]
                try:
                    await self._draft_batch(inp.run_id, source, {i: entries[i] for i in batch})
                except LLM_ERRORS as exc:
                    self._fail(llm_failure(exc, checkpoint), checkpoint, exc)
                checkpoint.record(entries[position] for position in batch)
                # Now, not at the next periodic beat: a source's batches take well under one, so a failure of the
                # next batch would send the retry back to the start (the SDK sends this last one with the failure).
                activity.heartbeat(checkpoint)
        outcome.drafts_created = await self._count_drafts(inp.run_id, source.id)
        # Counted, not summed over batches: a retry's batches would leave out what earlier attempts skipped.
        outcome.skipped = max(0, outcome.entries - outcome.drafts_created)
        outcome.faults = checkpoint.counts
        return outcome

    @activity.defn(name="news.record_source_run")
    async def record_source_run(self, run: SourceRun) -> None:
        values = {
            "last_run_id": run.run_id,
            "last_run_at": utcnow(),
            "last_run_entries": run.entries,
            "last_run_drafts": run.drafts,
            "last_run_error": run.error,
        }
        # A source deleted meanwhile updates nothing: there is no one left to show its last run to.
        async with self._sessions() as session, session.begin():
            await session.execute(update(NewsSource).where(NewsSource.id == run.source_id).values(values))

    @staticmethod
    def _fail(failure: ApplicationError, checkpoint: SourceCheckpoint, exc: Exception) -> NoReturn:
        """Fail the attempt, its tally of faults heartbeated first so that the next attempt goes on counting."""
        activity.heartbeat(checkpoint)
        raise failure from cause_unless_counted(exc, checkpoint)

    async def _load_source(self, source_id: int) -> NewsSource:
        async with self._sessions() as session:
            source = await session.get(NewsSource, source_id)
        if source is None:
            raise ApplicationError(f"news source {source_id} does not exist", type="NotFound", non_retryable=True)
        return source

    async def _draft_batch(self, run_id: str, source: NewsSource, batch: dict[int, FeedEntry]) -> None:
        """Judge one batch (entries by their place in the feed) and insert its news as drafts."""
        known = await self._known_urls(source.id, [e.url for e in batch.values()])
        fresh = {i: e for i, e in batch.items() if e.url not in known}
        if not fresh:
            return
        verdicts = await self._llm.parse(EDITOR_PROMPT, editor_request(source.topic, fresh), NewsVerdicts)
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

    async def _known_urls(self, source_id: int, urls: list[str]) -> set[str]:
        async with self._sessions() as session:
            found = await session.scalars(
                select(NewsPost.url).where(NewsPost.source_id == source_id, NewsPost.url.in_(urls))
            )
            return set(found)

    async def _count_drafts(self, run_id: str, source_id: int) -> int:
        async with self._sessions() as session:
            return (
                await session.execute(
                    select(func.count()).where(NewsPost.source_id == source_id, NewsPost.run_id == run_id)
                )
            ).scalar_one()
