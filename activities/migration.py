"""Channel migration: survey a link, read a page of history into the log, publish a page in order.

Publishing a page is a pipeline: media of the next few posts is downloaded from Telegram and uploaded
to MAX ahead, in parallel (bounded), while posts are sent strictly one after another in the source's
order. Each send records its intent first and its outcome after; a retry that finds an intent without
an outcome asks MAX whether the message arrived before sending it again.
"""

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from activities.migration_models import (
    MigrationScope,
    PageRead,
    Published,
    PublishPage,
    ReadPage,
    Survey,
    Tally,
)
from clients.posts import Post, PostKind, PostSource, SourceError
from clients.telegram import PyrogramSource
from clients.telegram_export import ExportSource
from db import message_log
from db.message_log import Waiting
from db.models import CrosspostingLink, MaxChannel, MessageStatus, SourceKind, TelegramChannel
from db.session import SessionFactory
from settings import Settings

PAGE_SIZE = 100
# Messages MAX may have received since an interrupted send: enough to find ours among the newest.
LOOK_BACK = 50


class SourceFactory(Protocol):
    def __call__(self, channel: TelegramChannel) -> PostSource: ...


def channel_sources(settings: Settings) -> SourceFactory:
    """A channel's history the way it was saved: live through pyrogram, or from its Desktop export.

    A source per step: the stand-in connects for free; on real Telegram that is one handshake per page.
    """

    def source(channel: TelegramChannel) -> PostSource:
        if channel.source == SourceKind.export:
            return ExportSource(channel.export_path)
        return PyrogramSource.from_settings(settings, channel.chat)

    return source


@dataclass
class Link:
    id: int
    telegram: TelegramChannel
    max: MaxChannel


@dataclass
class Prepared:
    """A post's media, uploaded to MAX and ready to attach."""

    attachments: list[Any] = field(default_factory=list)
    media_bytes: int = 0
    prepare_ms: int = 0


def source_failure(exc: SourceError) -> ApplicationError:
    from datetime import timedelta

    delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
    return ApplicationError(str(exc), type="SourceError", non_retryable=exc.permanent, next_retry_delay=delay)


class MigrationActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        sources: SourceFactory,
        publisher: Any,
        media_dir: Path,
        prepare_parallel: int = 4,
    ) -> None:
        self._sessions = sessions
        self._sources = sources
        self._max = publisher
        self._media_dir = media_dir
        self._prepare_parallel = prepare_parallel

    # -- survey and tally (local activities: one query or one call each) ---------------------------

    @activity.defn(name="migration.survey")
    async def survey(self, scope: MigrationScope) -> Survey:
        link = await self._link(scope.link_id)
        if scope.only_failed:
            async with self._sessions() as session:
                total = await message_log.count_failed(session, link.id)
        else:
            total = await self._with_source(link, lambda source: source.count())
        return Survey(total=total, channel=link.telegram.title, destination=link.max.title)

    @activity.defn(name="migration.tally")
    async def tally(self, page: PublishPage) -> Tally:
        async with self._sessions() as session:
            counts = await message_log.tally(session, page.link_id, page.message_ids)
        return Tally(**counts)

    # -- reading -----------------------------------------------------------------------------------

    @activity.defn(name="migration.read_page")
    async def read_page(self, inp: ReadPage) -> PageRead:
        scope = inp.scope
        link = await self._link(scope.link_id)
        async with heartbeating():
            if scope.only_failed:
                async with self._sessions() as session:
                    ids = await message_log.failed_after(session, link.id, inp.after_id, PAGE_SIZE)
                posts = await self._with_source(link, lambda source: source.posts(ids)) if ids else []
                after_id, done = (ids[-1] if ids else inp.after_id), len(ids) < PAGE_SIZE
                wanted = set(ids)
                # Only the failed members of an album are in question; the album goes whole.
                posts = [p for p in posts if wanted & set(p.member_ids)]
            else:
                page = await self._with_source(link, lambda source: source.page(inp.after_id, PAGE_SIZE))
                posts, after_id, done = page.posts, page.after_id, page.done
            read = PageRead(after_id=after_id, done=done, messages=sum(len(p.member_ids) for p in posts))
            if posts:
                read.last_message_id = max(p.member_ids[-1] for p in posts)
            await self._sort_page(link, scope, posts, read)
        return read

    async def _sort_page(self, link: Link, scope: MigrationScope, posts: list[Post], read: PageRead) -> None:
        """Count what is not to publish, log what MAX cannot show, and store the rest as pending."""
        publish: list[Post] = []
        unsupported: list[Post] = []
        for post in posts:
            size = len(post.member_ids)
            if scope.since and post.date < scope.since:
                read.outside_period += size
            elif scope.until and post.date > scope.until:
                read.outside_period += size
                read.done = True  # oldest first: nothing later is inside the period either
            elif post.kind == PostKind.service:
                read.service += size
            elif post.kind == PostKind.unsupported:
                unsupported.append(post)
            else:
                publish.append(post)
        async with self._sessions() as session, session.begin():
            done = await message_log.already_done(
                session, link.id, [m for p in publish + unsupported for m in p.member_ids]
            )
            fresh = [p for p in publish if not set(p.member_ids) <= done]
            read.already_migrated = sum(len(p.member_ids) for p in publish) - sum(len(p.member_ids) for p in fresh)
            skip = [p for p in unsupported if not set(p.member_ids) <= done]
            read.already_migrated += sum(len(p.member_ids) for p in unsupported if set(p.member_ids) <= done)
            read.unsupported = sum(len(p.member_ids) for p in skip)
            if scope.dry_run:
                read.would_publish = sum(len(p.member_ids) for p in fresh)
                await session.rollback()
                return
            await message_log.mark_skipped(session, link.id, skip)
            await message_log.mark_pending(session, link.id, fresh)
        read.pending_ids = [m for p in fresh for m in p.member_ids]

    # -- publishing --------------------------------------------------------------------------------

    @activity.defn(name="migration.publish_page")
    async def publish_page(self, inp: PublishPage) -> Published:
        started = time.monotonic()
        link = await self._link(inp.link_id)
        async with self._sessions() as session:
            waiting = await message_log.pending_posts(session, link.id, inp.message_ids)
        published = Published(tally=Tally())
        last_done = {"id": 0}
        # This attempt's own folder: files a killed attempt left behind are removed with it.
        media_dir = self._media_dir / f"link-{link.id}"
        shutil.rmtree(media_dir, ignore_errors=True)
        media_dir.mkdir(parents=True, exist_ok=True)
        source = self._sources(link.telegram)
        try:
            async with heartbeating(lambda: last_done["id"]):
                await self._publish_in_order(link, source, waiting, media_dir, published, last_done)
        finally:
            await source.close()
            shutil.rmtree(media_dir, ignore_errors=True)
        async with self._sessions() as session:
            published.tally = Tally(**await message_log.tally(session, link.id, inp.message_ids))
        published.seconds = round(time.monotonic() - started, 3)
        return published

    async def _publish_in_order(
        self, link: Link, source: PostSource, waiting: list[Waiting], media_dir: Path, out: Published, last: dict
    ) -> None:
        slots = asyncio.Semaphore(self._prepare_parallel)
        ahead: dict[int, asyncio.Task[Prepared]] = {}

        def prepare_ahead(upto: int) -> None:
            for i in range(upto, min(upto + self._prepare_parallel * 2, len(waiting))):
                if i not in ahead:
                    ahead[i] = asyncio.ensure_future(self._prepare(link, source, waiting[i].post, media_dir, slots))

        try:
            for i, item in enumerate(waiting):
                prepare_ahead(i)
                try:
                    prepared = await ahead.pop(i)
                except MediaRefused as exc:
                    await self._record(link, item.post, MessageStatus.failed, error=str(exc))
                    out.tally.failed += len(item.post.member_ids)
                    continue
                await self._publish_post(link, item, prepared, out)
                out.media_files += len(item.post.media)
                out.media_bytes += prepared.media_bytes
                last["id"] = item.post.id
        finally:
            for task in ahead.values():
                task.cancel()
            await asyncio.gather(*ahead.values(), return_exceptions=True)

    async def _prepare(
        self, link: Link, source: PostSource, post: Post, media_dir: Path, slots: asyncio.Semaphore
    ) -> Prepared:
        """Download the post's media from Telegram and upload it to MAX; files are deleted either way."""
        prepared = Prepared()
        if not post.media:
            return prepared
        started = time.monotonic()
        async with slots:
            folder = media_dir / str(post.id)
            folder.mkdir(parents=True, exist_ok=True)
            try:
                for media in post.media:
                    try:
                        path = await source.download(media, folder)
                    except SourceError as exc:
                        if exc.permanent:
                            raise MediaRefused(f"media of message {post.id} cannot be downloaded: {exc}") from exc
                        raise source_failure(exc) from exc
                    prepared.media_bytes += path.stat().st_size
                    prepared.attachments.append(
                        await self._max_call(lambda: self._max.upload(link.max.bot_token, media.kind, path))
                    )
                    path.unlink(missing_ok=True)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        prepared.prepare_ms = int((time.monotonic() - started) * 1000)
        return prepared

    async def _publish_post(self, link: Link, item: Waiting, prepared: Prepared, out: Published) -> None:
        raise NotImplementedError  # wired to the MAX client when it lands

    async def _max_call(self, call: Callable[[], Awaitable[Any]]) -> Any:
        raise NotImplementedError

    async def _record(self, link: Link, post: Post, status: MessageStatus, **outcome: Any) -> None:
        async with self._sessions() as session, session.begin():
            await message_log.record_outcome(session, link.id, post, status, **outcome)

    # -- shared ------------------------------------------------------------------------------------

    async def _link(self, link_id: int) -> Link:
        async with self._sessions() as session:
            link = await session.get(CrosspostingLink, link_id)
            if link is None:
                raise ApplicationError(
                    f"crossposting link {link_id} does not exist", type="NotFound", non_retryable=True
                )
            telegram = await session.get(TelegramChannel, link.telegram_channel_id)
            destination = await session.get(MaxChannel, link.max_channel_id)
        return Link(id=link.id, telegram=telegram, max=destination)

    async def _with_source(self, link: Link, use: Callable[[PostSource], Awaitable[Any]]) -> Any:
        source = self._sources(link.telegram)
        try:
            return await use(source)
        except SourceError as exc:
            raise source_failure(exc) from exc
        finally:
            await source.close()


class MediaRefused(Exception):
    """A post's media that can never be published (gone from Telegram, refused by MAX): the post fails."""
