"""Crossposting's job: a link's channel migration (`MigrateChannel`), Telegram → MAX, every post once, in the source's
order, at the speed MAX allows.

Replaces the in-process loop crossposting ran in before Longrun (5–10 hours for 10,000 posts, lost with the
process, and an "optimised" plan publishing five posts at once out of order). The history is read a page of 100
messages at a time, oldest first, by a reader that runs up to `READ_AHEAD` pages ahead of publishing;
each publish step takes every page read so far and publishes it in order in one activity that prepares
media ahead in parallel. Pause keeps the place, cancel publishes nothing more, and a long channel
continues as new every `PAGES_PER_RUN` pages.
"""

import asyncio
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from runtime.queues import QueueKind
from workflows.base import HEARTBEAT_TIMEOUT, JobProgress, JobResult, JobWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.crossposting import (
        CrosspostingActivities,
        MigrationScope,
        PageRead,
        Published,
        PublishPage,
        ReadPage,
        Tally,
    )
    from workflows.start import JobRequest

JOB_TYPE = "channel_migration"
# A run continues as new after this many pages (~15 events each): history stays far below 10,000 events.
PAGES_PER_RUN = 100
# Pages read but not yet published, at most: reading runs ahead of MAX's pace, not the whole channel ahead.
# A publish step takes every page read, so this also bounds a step; each step boundary leaves MAX's limit idle
# for a few hundred milliseconds (measured by `python -m bench migration`), so steps are long. Runs that began
# before the patch keep their 10.
READ_AHEAD = 30
READ_AHEAD_PATCH = "read-ahead-30"
READ_AHEAD_BEFORE_PATCH = 10

# Reading waits out FloodWait exactly (the activity asks for it); a source that is gone fails the job.
READ_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60))
# Publishing outlives a MAX outage: it keeps trying, and a person can always cancel.
PUBLISH_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60))
LOCAL_STEP = {"start_to_close_timeout": timedelta(seconds=30), "retry_policy": RetryPolicy(maximum_attempts=0)}


def migration_job_id(link_id: int) -> str:
    """One migration per link at a time: a second start finds the running one."""
    return f"migration-link-{link_id}"


class Cursor(BaseModel):
    """Where a migration stands; carried over continue-as-new."""

    after_id: int = 0
    done: bool = False
    pages: int = 0
    posts: int = 0
    media_files: int = 0
    media_bytes: int = 0


class MigrationInput(BaseModel):
    scope: MigrationScope
    cursor: Cursor = Field(default_factory=Cursor)
    carried: JobProgress | None = None
    pages_per_run: int = Field(default=PAGES_PER_RUN, ge=1)


class MigrationResult(JobResult):
    link_id: int
    dry_run: bool = False
    messages_migrated: int = 0
    messages_failed: int = 0
    messages_skipped: int = 0
    posts_published: int = 0
    would_publish: int = 0
    last_message_id: int | None = None


@workflow.defn(name="MigrateChannel")
class MigrateChannelWorkflow(JobWorkflow):
    # Its task queue's kind (runtime/queues.py): thousands of downloads, uploads and sends, away from the webhook chain.
    queue_kind = QueueKind.bulk

    def __init__(self) -> None:
        super().__init__()
        self._paused = False
        self._unpublished: list[PageRead] = []  # read by the reader, not yet handed to a publish step

    @workflow.signal
    def pause(self) -> None:
        self._paused = True

    @workflow.signal
    def resume(self) -> None:
        self._paused = False

    @workflow.run
    async def run(self, inp: MigrationInput) -> MigrationResult:
        scope, cursor = inp.scope, inp.cursor.model_copy()
        if inp.carried is None:
            survey = await workflow.execute_local_activity_method(CrosspostingActivities.survey, scope, **LOCAL_STEP)
            self.begin(survey.total, f"{survey.channel} → {survey.destination}")
            self._progress.details.update(dry_run=scope.dry_run, only_failed=scope.only_failed)
        else:
            self.continue_from(inp.carried, inp.carried.message)
        # Pages are read by a reader of their own while the publisher publishes what is read: each publish
        # step takes every page read during the last one, so MAX's rate limit is not left idle between pages.
        read_ahead = READ_AHEAD if workflow.patched(READ_AHEAD_PATCH) else READ_AHEAD_BEFORE_PATCH
        reader = asyncio.ensure_future(self._reader(scope, cursor, inp.pages_per_run, read_ahead))
        while not self.cancel_requested:
            await self.wait(lambda: bool(self._unpublished) or reader.done() or self.cancel_requested)
            if self.cancel_requested or not self._unpublished:
                break
            batch, self._unpublished = self._unpublished, []
            message_ids = [i for page in batch for i in page.pending_ids]
            if message_ids and not scope.dry_run:
                await self._hold_while_paused()
                if not self.cancel_requested:
                    await self._publish(PublishPage(link_id=scope.link_id, message_ids=message_ids), cursor)
        if not reader.done():
            reader.cancel()  # cancelled with a read under way: it ends before the job does
        await asyncio.gather(reader, return_exceptions=True)
        if not self.cancel_requested and not reader.cancelled() and (failure := reader.exception()) is not None:
            raise failure  # a page that cannot be read (the channel is gone): the job fails
        if not cursor.done and not self.cancel_requested:
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(inp.model_copy(update={"cursor": cursor, "carried": self._progress}))
        if cursor.done and not self.cancel_requested:
            self._progress.total = self._progress.processed  # `until` may end the history early
        p = self._progress
        status = self.finish(f"{p.succeeded} messages migrated, {p.skipped} skipped, {p.failed} failed")
        return MigrationResult(
            status=status,
            progress=p,
            link_id=scope.link_id,
            dry_run=scope.dry_run,
            messages_migrated=0 if scope.dry_run else p.succeeded,
            messages_failed=p.failed,
            messages_skipped=p.skipped,
            posts_published=cursor.posts,
            would_publish=p.details.get("would_publish", 0),
            last_message_id=p.details.get("last_message_id"),
        )

    # -- reading -----------------------------------------------------------------------------------

    async def _reader(self, scope: MigrationScope, cursor: Cursor, pages_per_run: int, read_ahead: int) -> None:
        """Pages one after another, at most `read_ahead` unpublished, until the history (or this run) is through."""
        pages = 0
        while not cursor.done and pages < pages_per_run and not self.cancel_requested:
            await workflow.wait_condition(lambda: len(self._unpublished) < read_ahead or self.cancel_requested)
            if self.cancel_requested:
                return
            page = await self._read(scope, cursor.after_id)
            cursor.after_id, cursor.done, cursor.pages = page.after_id, page.done, cursor.pages + 1
            pages += 1
            self._count_read(page, scope)
            self._unpublished.append(page)
            if workflow.info().is_continue_as_new_suggested():
                return

    async def _read(self, scope: MigrationScope, after_id: int) -> PageRead:
        return await workflow.execute_activity_method(
            CrosspostingActivities.read_page,
            ReadPage(scope=scope, after_id=after_id),
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=READ_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )

    def _count_read(self, page: PageRead, scope: MigrationScope) -> None:
        details = self._progress.details
        for key in ("already_migrated", "outside_period", "service", "unsupported"):
            details[key] = details.get(key, 0) + getattr(page, key)
        if page.last_message_id is not None:
            details["last_message_id"] = page.last_message_id
        if scope.dry_run:
            details["would_publish"] = details.get("would_publish", 0) + page.would_publish
            self.advance(succeeded=page.would_publish, skipped=page.skipped)
        else:
            self.advance(skipped=page.skipped)
        self.set_current(f"messages after {page.after_id}" if not page.done else None)

    # -- publishing --------------------------------------------------------------------------------

    async def _publish(self, page: PublishPage, cursor: Cursor) -> None:
        """Publish a page; a pause stops it where it is and a resume goes on (what is in MAX is skipped)."""
        counted = Tally()
        while True:
            published = await self._publish_once(page)
            tally = published.tally if published else await self._tally(page)
            self.advance(succeeded=tally.success - counted.success, failed=tally.failed - counted.failed)
            counted = tally
            if published is not None:
                cursor.posts += published.posts
                cursor.media_files += published.media_files
                cursor.media_bytes += published.media_bytes
                self._progress.details.update(
                    posts_published=cursor.posts,
                    media_files=cursor.media_files,
                    media_bytes=cursor.media_bytes,
                    rate_per_second=round(len(page.message_ids) / published.seconds, 2) if published.seconds else None,
                )
                return
            if self.cancel_requested:
                return
            await self._hold_while_paused()
            if self.cancel_requested:
                return

    async def _publish_once(self, page: PublishPage) -> Published | None:
        """The page's publish step, or None when a pause or a cancel stopped it midway."""
        return await self.stoppable(
            workflow.execute_activity_method(
                CrosspostingActivities.publish_page,
                page,
                start_to_close_timeout=timedelta(hours=2),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=PUBLISH_RETRY,
                # Wait until it has stopped, so nothing is published after the job says paused or cancelled.
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            ),
            stop=lambda: self._paused or self.cancel_requested,
        )

    async def _tally(self, page: PublishPage) -> Tally:
        return await workflow.execute_local_activity_method(CrosspostingActivities.tally, page, **LOCAL_STEP)

    async def _hold_while_paused(self) -> None:
        if not self._paused or self.cancel_requested:
            return
        self.mark_paused(f"paused after message {self._progress.details.get('last_message_id', 0)}")
        await self.wait(lambda: not self._paused or self.cancel_requested)
        if not self.cancel_requested:
            self.mark_running("resumed")


def migration_job(scope: MigrationScope, owner: str) -> JobRequest:
    job_id = migration_job_id(scope.link_id)
    return JobRequest(MigrateChannelWorkflow.run, MigrationInput(scope=scope), JOB_TYPE, owner, job_id)
