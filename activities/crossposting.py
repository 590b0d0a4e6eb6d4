"""Crossposting's migration steps: survey a link, read a page of history into the log, publish what was read in order.

A publish step is a pipeline: the media of the next posts is downloaded from Telegram and uploaded to
MAX ahead, in parallel (bounded), while posts are sent strictly one after another in the source's
order. Each send records its intent first and its outcome after; a retry that finds an intent without
an outcome asks MAX whether the message arrived before sending it again.
"""

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection
from temporalio import activity
from temporalio.exceptions import ApplicationError

from clients.max import AttachmentRef, MaxClient, MaxError
from clients.telegram import PyrogramSource
from clients.telegram_export import ExportSource
from db import message_log
from db.message_log import Waiting
from db.models import CrosspostingLink, MaxChannel, MessageStatus, SourceKind, TelegramChannel
from db.session import SessionFactory, autocommit
from domain.max_match import find_delivered
from domain.max_split import OutgoingMessage, plan_post
from domain.posts import Media, Post, PostKind, PostSource, SourceError
from runtime.errors import outside_failure
from runtime.heartbeat import heartbeating
from settings import Settings

PAGE_SIZE = 100
# Files between their download from Telegram and their upload to MAX at any time (each one on disk meanwhile).
FILES_AT_ONCE = 16
# A 429 or an attachment still processing is waited out inside the step this many times before the step
# itself fails and Temporal retries it (an outage of MAX, not its pacing).
MAX_ATTEMPTS_PER_CALL = 8
# MAX stamps messages with its own clock: look back a little further than our intent to find ours.
CLOCK_SKEW = timedelta(seconds=30)


# What the workflow and these activities say to each other: small, so history stays small. Posts themselves
# never travel through workflow history: a page read stores them in `message_log` and hands the workflow only their
# message ids; the publish step loads them from there.


class MigrationScope(BaseModel):
    """Which messages of a link a job moves."""

    link_id: int
    since: datetime | None = None
    until: datetime | None = None
    dry_run: bool = False
    # retry-failed: only the messages whose log says `failed`, read again from the source.
    only_failed: bool = False


class Survey(BaseModel):
    total: int  # messages the job will look at (the channel's count, or the failed ones)
    channel: str
    destination: str


class ReadPage(BaseModel):
    scope: MigrationScope
    after_id: int


class PageRead(BaseModel):
    after_id: int  # the cursor for the next page
    done: bool
    messages: int  # Telegram messages this page covered
    # Messages now `pending` in the log, to publish (ascending; an album's members together).
    pending_ids: list[int] = Field(default_factory=list)
    # In a dry run nothing is written: how many messages a real run would publish.
    would_publish: int = 0
    already_migrated: int = 0
    outside_period: int = 0
    service: int = 0
    unsupported: int = 0  # logged `skipped` with the reason
    last_message_id: int | None = None

    @property
    def skipped(self) -> int:
        return self.already_migrated + self.outside_period + self.service + self.unsupported


class PublishPage(BaseModel):
    link_id: int
    message_ids: list[int]


class Tally(BaseModel):
    """Where a page's messages stand in the log."""

    success: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0


class Published(BaseModel):
    tally: Tally
    posts: int = 0  # MAX messages sent (an album is one, a long text several)
    media_files: int = 0
    media_bytes: int = 0
    seconds: float = 0.0  # the publish step's own time, for the current rate


class SourceFactory(Protocol):
    def __call__(self, channel: TelegramChannel) -> PostSource: ...


def channel_sources(settings: Settings) -> SourceFactory:
    """A channel's history the way it was saved: live through pyrogram, or from its Desktop export.

    A source per step: the stand-in connects for free; on real Telegram that is one handshake per page.
    """

    def source(channel: TelegramChannel) -> PostSource:
        needed = channel.export_path if channel.source == SourceKind.export else channel.chat
        if not needed:
            # A row saved before the API refused this: no retry can read a channel that names nothing.
            field_name = "export_path" if channel.source == SourceKind.export else "chat"
            raise ApplicationError(
                f"telegram channel {channel.id} ({channel.source}) has no {field_name}",
                type="ChannelIncomplete",
                non_retryable=True,
            )
        if channel.source == SourceKind.export:
            # Checked again here, as the API checked it when the channel was saved: it may have gone or changed since.
            return ExportSource(needed, within=settings.exports_dir, max_bytes=settings.telegram_export_max_bytes)
        return PyrogramSource.from_settings(settings, needed)

    return source


@dataclass
class Link:
    id: int
    telegram: TelegramChannel
    max: MaxChannel


@dataclass
class Prepared:
    """A post's MAX messages, and the media of those still to send, uploaded and ready to attach in order."""

    parts: list[OutgoingMessage] = field(default_factory=list)
    attachments: list[AttachmentRef] = field(default_factory=list)
    media_bytes: int = 0
    prepare_ms: int = 0


class Refused(Exception):
    """MAX (or Telegram, for a file) refused this post for good: the post fails, the job goes on."""


class LostAnswer(Exception):
    """The request reached MAX but its answer did not come back: MAX may have acted on it."""


class CrosspostingActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        sources: SourceFactory,
        max_client: MaxClient,
        media_dir: Path,
        prepare_ahead: int,
    ) -> None:
        self._sessions = sessions
        self._sources = sources
        self._max = max_client
        self._media_dir = media_dir
        self._prepare_ahead = max(prepare_ahead, 1)

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
        # The link's own folder: files a killed attempt left behind are removed with it.
        media_dir = self._media_dir / f"link-{link.id}"
        shutil.rmtree(media_dir, ignore_errors=True)
        media_dir.mkdir(parents=True, exist_ok=True)
        source = self._sources(link.telegram)
        try:
            async with heartbeating(lambda: last_done["id"]), autocommit(self._sessions) as log:
                await self._publish_in_order(link, source, waiting, media_dir, published, last_done, log)
        finally:
            await source.close()
            shutil.rmtree(media_dir, ignore_errors=True)
        async with self._sessions() as session:
            published.tally = Tally(**await message_log.tally(session, link.id, inp.message_ids))
        published.seconds = round(time.monotonic() - started, 3)
        return published

    async def _publish_in_order(
        self,
        link: Link,
        source: PostSource,
        waiting: list[Waiting],
        media_dir: Path,
        out: Published,
        last: dict,
        log: AsyncConnection,
    ) -> None:
        """Posts go out strictly one after another; the media of the next ones is prepared meanwhile.

        The sender must never wait for media while MAX's limit has room: an album is 10 downloads and 20
        uploads. So the next `prepare_ahead` posts are prepared at once, their files in parallel, with at most
        `FILES_AT_ONCE` files between their download and their upload (on disk) at any time.
        """
        slots = asyncio.Semaphore(FILES_AT_ONCE)
        ahead: dict[int, asyncio.Task[Prepared]] = {}
        try:
            for i, item in enumerate(waiting):
                for j in range(i, min(i + self._prepare_ahead, len(waiting))):
                    if j not in ahead:
                        ahead[j] = asyncio.ensure_future(
                            self._prepare(link, source, waiting[j], media_dir, slots, urgency=1 + j)
                        )
                try:
                    prepared = await ahead.pop(i)
                except Refused as exc:
                    await message_log.record_outcome(log, link.id, item.post, MessageStatus.failed, error=str(exc))
                    continue
                await self._publish_post(link, item, prepared, out, log)
                out.media_files += len(item.post.media)
                out.media_bytes += prepared.media_bytes
                last["id"] = item.post.id
        finally:
            for task in ahead.values():
                task.cancel()
            await asyncio.gather(*ahead.values(), return_exceptions=True)

    async def _prepare(
        self, link: Link, source: PostSource, item: Waiting, media_dir: Path, slots: asyncio.Semaphore, urgency: int
    ) -> Prepared:
        """The post's media downloaded from Telegram and uploaded to MAX; each file is deleted once uploaded.

        Parts MAX already has (an earlier attempt sent them) need nothing: only the rest is prepared. `urgency`
        orders this post's uploads among the step's MAX requests: sends are 0, the next post's files 1, and so on.
        """
        parts = plan_post(item.post)
        prepared = Prepared(parts=parts)
        todo = [m for part in parts[len(item.sent) :] for m in part.media]
        if not todo:
            return prepared
        started = time.monotonic()
        folder = media_dir / str(item.post.id)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            # In the post's order: the attachments go with its parts in that order.
            prepared.attachments = list(
                await asyncio.gather(*(self._transfer(link, source, m, folder, prepared, slots, urgency) for m in todo))
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        prepared.prepare_ms = int((time.monotonic() - started) * 1000)
        return prepared

    async def _transfer(
        self,
        link: Link,
        source: PostSource,
        media: Media,
        folder: Path,
        prepared: Prepared,
        slots: asyncio.Semaphore,
        urgency: int,
    ) -> AttachmentRef:
        """One file from Telegram to MAX; the slot bounds how many files are on disk at once."""
        async with slots:
            return await self._download_and_upload(link, source, media, folder, prepared, urgency)

    async def _download_and_upload(
        self, link: Link, source: PostSource, media: Media, folder: Path, prepared: Prepared, urgency: int
    ) -> AttachmentRef:
        try:
            path = await source.download(media, folder)
        except SourceError as exc:
            if exc.permanent:
                raise Refused(f"Telegram would not give the file: {exc}") from exc
            raise outside_failure(exc) from exc
        try:
            prepared.media_bytes += path.stat().st_size
            token = link.max.bot_token

            async def upload():
                return await self._max.upload(
                    token, media.kind, path, file_name=media.file_name, mime_type=media.mime_type, priority=urgency
                )

            return await self._patiently(upload, f"upload of a {media.kind.value}")
        finally:
            path.unlink(missing_ok=True)

    async def _publish_post(
        self, link: Link, item: Waiting, prepared: Prepared, out: Published, log: AsyncConnection
    ) -> None:
        """Send the post's parts that MAX does not have yet, recording intent before and outcome after each.

        `log` commits every statement on its own: an intent is in the database before the send begins."""
        post, parts, sent = item.post, prepared.parts, list(item.sent)
        if not parts:
            await message_log.record_outcome(log, link.id, post, MessageStatus.skipped, error="nothing MAX can show")
            return
        # The attachments of each part still to send, in the order `_prepare` uploaded them.
        attachments = iter(prepared.attachments)
        refs_of = {i: [next(attachments) for _ in parts[i].media] for i in range(len(sent), len(parts))}
        started = time.monotonic()
        intent_at = item.intent_at
        try:
            while len(sent) < len(parts):
                part = parts[len(sent)]
                if intent_at is not None:
                    # An attempt died (or lost its answer) around this send: is the message in MAX already?
                    found = await self._find_delivered(link, part, intent_at)
                    if found is not None:
                        sent.append(found)  # after a crash its files were uploaded again for nothing
                        intent_at = None
                        continue
                intent_at = await message_log.record_intent(log, link.id, post, sent)
                mid = await self._send(link, part, refs_of[len(sent)])
                if mid is None:
                    continue  # the answer was lost: look in MAX, then send again if it is not there
                sent.append(mid)
                intent_at = None
                out.posts += 1
        except Refused as exc:
            parts_sent = ",".join(sent) or None
            await message_log.record_outcome(
                log, link.id, post, MessageStatus.failed, error=str(exc), max_message_id=parts_sent
            )
            return
        await message_log.record_outcome(
            log,
            link.id,
            post,
            MessageStatus.success,
            max_message_id=",".join(sent),
            prepare_ms=prepared.prepare_ms,
            send_ms=int((time.monotonic() - started) * 1000),
            media_bytes=prepared.media_bytes,
        )

    async def _send(self, link: Link, part: OutgoingMessage, refs: list[AttachmentRef]) -> str | None:
        """One part into the channel: its MAX id, or None when MAX may have it but did not say so."""
        destination = link.max

        async def send():
            return await self._max.send(destination.bot_token, destination.chat_id, part.markdown, refs, notify=False)

        try:
            return (await self._patiently(send, "send", repeatable=False)).mid
        except LostAnswer:
            return None

    async def _find_delivered(self, link: Link, part: OutgoingMessage, intent_at: datetime) -> str | None:
        """The message MAX took for `part` since the intent, if any, and not already another post's."""
        destination = link.max
        since_ms = int((intent_at - CLOCK_SKEW).timestamp() * 1000)

        async def look():
            return await self._max.messages_since(destination.bot_token, destination.chat_id, since_ms)

        messages = await self._patiently(look, "read back the channel")
        async with self._sessions() as session:
            known = await message_log.known_max_ids(session, link.id, [m.mid for m in messages])
        found = find_delivered(messages, part, since_ms=since_ms, exclude_mids=known)
        return found.mid if found else None

    async def _patiently(self, call: Callable[[], Awaitable[Any]], doing: str, *, repeatable: bool = True) -> Any:
        """A MAX call, waiting out 429 and `attachment.not.ready` as MAX asks; a refusal raises `Refused`.

        A lost answer after the request went out is asked again when the call is `repeatable` (a read, an upload:
        doing it twice costs nothing), else raises `LostAnswer` (a send: look in MAX before sending again).
        Anything else that lasts fails the attempt."""
        for attempt in range(1, MAX_ATTEMPTS_PER_CALL + 1):
            try:
                return await call()
            except MaxError as exc:
                if exc.permanent:
                    if exc.status in (401, 403):
                        raise ApplicationError(
                            f"MAX refused the bot token ({exc.status}): {exc}", type="MaxAuth", non_retryable=True
                        ) from exc
                    raise Refused(f"MAX refused the {doing}: {exc}") from exc
                if exc.maybe_delivered and not repeatable:
                    raise LostAnswer(str(exc)) from exc
                if attempt == MAX_ATTEMPTS_PER_CALL:
                    raise ApplicationError(f"MAX {doing}: {exc}", type="MaxUnavailable") from exc
                await asyncio.sleep(exc.retry_after if exc.retry_after is not None else min(2.0**attempt, 30.0))
        raise AssertionError("unreachable")

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
            if telegram is None or destination is None:
                # Deleting a channel deletes its links (ON DELETE CASCADE): one deleted between these reads is gone.
                raise ApplicationError(
                    f"crossposting link {link_id} does not exist", type="NotFound", non_retryable=True
                )
        return Link(id=link.id, telegram=telegram, max=destination)

    async def _with_source(self, link: Link, use: Callable[[PostSource], Awaitable[Any]]) -> Any:
        source = self._sources(link.telegram)
        try:
            return await use(source)
        except SourceError as exc:
            raise outside_failure(exc) from exc
        finally:
            await source.close()
