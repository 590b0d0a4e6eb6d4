"""The migration workflow's own logic with stub activities: pages in order with the next one read ahead,
continue-as-new carrying the place and the counts, pause and resume, cancel, dry run, FloodWait."""

import asyncio
import itertools
from dataclasses import replace
from datetime import timedelta

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError

from activities.crossposting import MigrationScope, PageRead, Published, PublishPage, ReadPage, Survey, Tally
from devstack.clients import eventually
from tests.workflows.stubs import heartbeat_until_cancelled
from workflows.base import JobStatus
from workflows.crossposting import MigrateChannelWorkflow, MigrationInput, migration_job
from workflows.start import start_job

PER_PAGE = 10
# Each test its own link, so its job id (migration-link-N) lists only its own runs.
_links = itertools.count(1)


class Channel:
    """A channel of `pages` pages of PER_PAGE messages: message ids 1..N, each page all publishable."""

    def __init__(self, pages: int, *, flood_wait: float | None = None, read_ahead_before_publish: int = 0) -> None:
        self.pages = pages
        # The first publish step waits until this many pages are read, as a slow MAX makes it do.
        self.read_ahead = asyncio.Event()
        self.read_ahead_before_publish = read_ahead_before_publish
        if not read_ahead_before_publish:
            self.read_ahead.set()
        self.flood_wait = flood_wait
        self.events: list[str] = []
        self.status: dict[int, str] = {}
        self.hold_publish = asyncio.Event()
        self.hold_publish.set()
        self.publish_cancelled = 0
        self.reads = 0
        self.batches: list[list[int]] = []

    @activity.defn(name="migration.survey")
    async def survey(self, scope: MigrationScope) -> Survey:
        return Survey(total=self.pages * PER_PAGE, channel="tg", destination="max")

    @activity.defn(name="migration.read_page")
    async def read_page(self, inp: ReadPage) -> PageRead:
        self.reads += 1
        if self.reads >= self.read_ahead_before_publish:
            self.read_ahead.set()
        if self.flood_wait and self.reads == 1:
            raise ApplicationError("FLOOD_WAIT", next_retry_delay=timedelta(seconds=self.flood_wait))
        first = inp.after_id + 1
        ids = list(range(first, first + PER_PAGE))
        self.events.append(f"read {first}")
        last = self.pages * PER_PAGE
        pending = [] if inp.scope.dry_run else [i for i in ids if self.status.get(i) != "success"]
        return PageRead(
            after_id=ids[-1],
            done=ids[-1] >= last,
            messages=PER_PAGE,
            pending_ids=pending,
            would_publish=PER_PAGE if inp.scope.dry_run else 0,
            already_migrated=PER_PAGE - len(pending) if not inp.scope.dry_run else 0,
            last_message_id=ids[-1],
        )

    @activity.defn(name="migration.publish_page")
    async def publish_page(self, page: PublishPage) -> Published:
        self.events.append(f"publish {page.message_ids[0]}")
        self.batches.append(page.message_ids)
        await self.read_ahead.wait()
        for message_id in page.message_ids:
            if self.status.get(message_id) == "success":
                continue
            if not self.hold_publish.is_set():
                await heartbeat_until_cancelled(self._cancelled)
            self.status[message_id] = "success"
        self.events.append(f"published {page.message_ids[-1]}")
        return Published(tally=self._tally(page), posts=len(page.message_ids), seconds=0.5)

    @activity.defn(name="migration.tally")
    async def tally(self, page: PublishPage) -> Tally:
        return self._tally(page)

    def _tally(self, page: PublishPage) -> Tally:
        done = sum(1 for i in page.message_ids if self.status.get(i) == "success")
        return Tally(success=done, pending=len(page.message_ids) - done)

    def _cancelled(self) -> None:
        self.publish_cancelled += 1

    def activities(self) -> list:
        return [self.survey, self.read_page, self.publish_page, self.tally]


async def start(env, settings, **scope) -> object:
    job = migration_job(MigrationScope(link_id=next(_links), **scope), "tester")
    return await start_job(env.client, settings, job)


async def reads_recorded(handle) -> int:
    history = await handle.fetch_history()
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and scheduled[e.activity_task_completed_event_attributes.scheduled_event_id] == "migration.read_page"
    )


async def test_pages_publish_in_order_with_the_next_read_ahead(env, run_worker):
    # The first publish is held until the workflow's history has all four reads: then it has seen them before it
    # sees that publish end (an activity letting go at its fourth read raced that publish's end: 3 batches once).
    channel = Channel(pages=4, read_ahead_before_publish=10**6)
    async with run_worker([MigrateChannelWorkflow], channel.activities()) as settings:
        handle = await start(env, settings)

        async def all_read() -> bool:
            return await reads_recorded(handle) == 4

        await eventually(all_read, "the four reads in the history", within=30)
        channel.read_ahead.set()
        result = await handle.result()
    published = [i for batch in channel.batches for i in batch]
    assert published == list(range(1, 41)), "every message once, in order"
    assert len(channel.batches) == 2, "the three pages read during the first step go out together"
    # Page 2 is read before page 1 has finished publishing.
    assert channel.events.index("read 11") < channel.events.index("published 10")
    assert (result.status, result.messages_migrated, result.progress.percent) == (JobStatus.completed, 40, 100.0)
    assert result.last_message_id == 40 and result.posts_published == 40


async def test_continue_as_new_carries_the_place_and_the_counts(env, run_worker):
    channel = Channel(pages=5)
    async with run_worker([MigrateChannelWorkflow], channel.activities()) as settings:
        job = migration_job(MigrationScope(link_id=next(_links)), "tester")
        job = replace(job, arg=MigrationInput(scope=job.arg.scope, pages_per_run=2))
        handle = await start_job(env.client, settings, job)
        result = await handle.result()
        runs = [w async for w in env.client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) == 3, "5 pages at 2 per run"
    assert [e for e in channel.events if e.startswith("read")] == [f"read {i}" for i in (1, 11, 21, 31, 41)]
    assert (result.messages_migrated, result.progress.processed, result.progress.total) == (50, 50, 50)
    assert result.progress.started_at < result.progress.updated_at


async def test_pause_keeps_the_place_and_resume_goes_on(env, run_worker):
    channel = Channel(pages=2)
    channel.hold_publish.clear()
    async with run_worker([MigrateChannelWorkflow], channel.activities()) as settings:
        handle = await start(env, settings)
        await publishing_started(channel)
        await handle.signal(MigrateChannelWorkflow.pause)

        async def paused():
            return (await handle.query(MigrateChannelWorkflow.progress)).status == JobStatus.paused

        await eventually(paused, "the job to say paused", within=20, interval=0.05)
        assert channel.publish_cancelled == 1, "the publish step stopped where it was"
        channel.hold_publish.set()
        await handle.signal(MigrateChannelWorkflow.resume)
        result = await handle.result()
    assert result.status == JobStatus.completed and result.messages_migrated == 20
    # The interrupted step is published again from its start; what MAX has is skipped (the stub's status).
    assert channel.batches[0] == channel.batches[1] and channel.batches[0][0] == 1
    assert sorted({i for batch in channel.batches for i in batch}) == list(range(1, 21))


async def test_cancel_stops_publishing_and_waits_for_the_step(env, run_worker):
    channel = Channel(pages=3)
    channel.hold_publish.clear()
    async with run_worker([MigrateChannelWorkflow], channel.activities()) as settings:
        handle = await start(env, settings)
        await publishing_started(channel)
        await handle.signal("cancel", "wrong channel")
        result = await handle.result()
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert result.status == JobStatus.cancelled and channel.publish_cancelled == 1
    assert [e for e in channel.events if e.startswith("publish")] == ["publish 1"]
    assert result.messages_migrated == 0


async def test_dry_run_reads_and_counts_without_publishing(env, run_worker):
    channel = Channel(pages=3)
    async with run_worker([MigrateChannelWorkflow], channel.activities()) as settings:
        result = await (await start(env, settings, dry_run=True)).result()
    assert not [e for e in channel.events if e.startswith("publish")]
    assert (result.dry_run, result.would_publish, result.messages_migrated) == (True, 30, 0)
    assert result.status == JobStatus.completed


async def test_flood_wait_is_waited_out_exactly(env, run_worker):
    channel = Channel(pages=1, flood_wait=37)
    async with run_worker([MigrateChannelWorkflow], channel.activities()) as settings:
        handle = await start(env, settings)
        result = await handle.result()
        history = await handle.fetch_history()
    assert result.status == JobStatus.completed and channel.reads == 2
    [read] = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.attempt == 2
    ]
    scheduled = next(e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    waited = read.event_time.ToDatetime() - scheduled.event_time.ToDatetime()
    assert timedelta(seconds=37) <= waited < timedelta(seconds=40), waited


async def publishing_started(channel: Channel) -> None:
    async def started():
        return "publish 1" in channel.events

    await eventually(started, "the first page publishing", within=20, interval=0.02)
