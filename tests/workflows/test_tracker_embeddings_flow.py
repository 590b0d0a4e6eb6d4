"""EmbedItems' own logic with stub activities: a run longer than one history continues as new and still counts
every item once; a batch that fails for good counts its items failed and the rest go on; no active provider ends
the job failed, saying so."""

from temporalio import activity
from temporalio.client import WorkflowHistory
from temporalio.exceptions import ApplicationError

from activities.tracker_embeddings import (
    EmbedBatchInput,
    EmbedBatchResult,
    ItemError,
    ListUnembeddedInput,
    ProviderChoice,
    UnembeddedPage,
)
from db.tracker_embeddings import EmbedKind
from workflows.base import JobStatus
from workflows.start import start_job
from workflows.tracker_embeddings import PAGE, PAGES_PER_RUN, EmbedItemsInput, EmbedItemsWorkflow, embed_job


class Table:
    """Rows 1..`rows` of messages without vectors; the batch containing `failing` fails for good, id 7 has no text."""

    def __init__(self, rows: int, provider: int | None = 3, failing: int | None = None) -> None:
        self.unembedded = set(range(1, rows + 1))
        self.provider = provider
        self.failing = failing
        self.batches: list[list[int]] = []

    @activity.defn(name="tracker.active_provider")
    async def active_provider(self) -> ProviderChoice:
        return ProviderChoice(provider_id=self.provider)

    @activity.defn(name="tracker.list_unembedded")
    async def list_unembedded(self, inp: ListUnembeddedInput) -> UnembeddedPage:
        ids = sorted(i for i in self.unembedded if i > inp.after_id)
        return UnembeddedPage(ids=ids[: inp.limit], remaining=len(ids) if inp.count else None)

    @activity.defn(name="tracker.embed_messages_batch")
    async def embed_messages_batch(self, inp: EmbedBatchInput) -> EmbedBatchResult:
        assert inp.provider_id == self.provider
        self.batches.append(inp.ids)
        if self.failing in inp.ids:
            raise ApplicationError("LLM: Error code: 400", non_retryable=True)
        result = EmbedBatchResult()
        for item in inp.ids:
            if item == 7:
                result.failed += 1
                result.errors.append(ItemError(id=item, error="gave 768 dimensions"))
            elif item in self.unembedded:
                self.unembedded.discard(item)
                result.success += 1
            else:
                result.skipped += 1
        return result

    def activities(self) -> list:
        return [self.active_provider, self.list_unembedded, self.embed_messages_batch]


async def test_a_long_run_continues_as_new_and_counts_every_item_once(env, run_worker):
    rows = PAGE * (PAGES_PER_RUN + 2) + 30
    table = Table(rows, failing=PAGE * 3 + 50)
    async with run_worker([EmbedItemsWorkflow], table.activities()) as settings:
        job = embed_job(EmbedItemsInput(kinds=[EmbedKind.messages], max_parallel=8), "tester")
        handle = await start_job(env.client, settings, job)
        result = await handle.result()
        first = env.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
        history: WorkflowHistory = await first.fetch_history()
    assert result.status == JobStatus.completed
    assert result.provider_id == 3
    assert (result.success, result.failed, result.skipped) == (rows - 101, 101, 0)
    assert result.progress.total == rows and result.progress.processed == rows
    assert {e.item for e in result.progress.errors} == {"message 7", "messages 3001..3100"}
    # Each id offered once, in batches of at most 100, across the runs.
    offered = [i for batch in table.batches for i in batch]
    assert sorted(offered) == list(range(1, rows + 1)) and max(len(b) for b in table.batches) <= 100
    # The first run ended by continuing as new, its history a few hundred events.
    assert history.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    assert len(history.events) < 2000


async def test_given_ids_are_embedded_as_given(env, run_worker):
    table = Table(300)
    async with run_worker([EmbedItemsWorkflow], table.activities()) as settings:
        inp = EmbedItemsInput(kinds=[EmbedKind.messages], ids=[5, 6, 250, 250, 9999], provider_id=3)
        result = await (await start_job(env.client, settings, embed_job(inp, "tester"))).result()
    assert table.batches == [[5, 6, 250, 250, 9999]]
    assert (result.success, result.skipped) == (3, 2)


async def test_no_active_provider_fails_the_job_saying_so(env, run_worker):
    table = Table(10, provider=None)
    async with run_worker([EmbedItemsWorkflow], table.activities()) as settings:
        job = embed_job(EmbedItemsInput(kinds=[EmbedKind.messages, EmbedKind.atoms]), "tester")
        result = await (await start_job(env.client, settings, job)).result()
    assert result.status == JobStatus.failed
    assert "no active LLM provider" in result.progress.message
    assert table.batches == []
