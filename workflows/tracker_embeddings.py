"""Embedding the tracker's messages and atoms: given ids, or every one still without a vector, in batches of 100,
a few batches at once, with one provider. The `tracker-embed-sweep` schedule runs it over both kinds
so new messages and freshly extracted atoms get their vectors without anyone asking.

Replaces the TaskIQ tasks that embedded a batch each: what a batch wrote stays written, a crashed worker's batch is
retried and skips what it finds embedded, and the job's progress says how many were embedded, skipped and failed.
"""

import uuid
from datetime import timedelta

from pydantic import BaseModel, Field, model_validator
from temporalio import workflow
from temporalio.common import RetryPolicy

from runtime.queues import QueueKind
from workflows.base import DB_STEP, HEARTBEAT_TIMEOUT, JobProgress, JobResult, JobWorkflow, root_cause

with workflow.unsafe.imports_passed_through():
    from activities.tracker_embeddings import (
        BATCH,
        EmbedBatchInput,
        EmbedBatchResult,
        EmbeddingActivities,
        ListUnembeddedInput,
        ProviderChoice,
        UnembeddedPage,
    )
    from db.tracker_embeddings import EmbedKind
    from runtime.errors import tallied
    from workflows.start import JobRequest

JOB_TYPE = "tracker_embeddings"
# Ids listed (or taken from the given ones) per step: ten batches, run `max_parallel` at a time.
PAGE = 1000
# Pages one run takes before it continues as new: ~100 activities, a history of a few hundred events.
PAGES_PER_RUN = 10
# Explicit ids a job takes: its input (carried over continue-as-new) stays well under Temporal's payload limit.
MAX_IDS = 10_000

# A batch's provider faults that pass (429, 5xx, a dropped connection, a timeout) are retried for as long as
# EMBED_BUDGET lasts, however many attempts that takes: 8 attempts failed batches at bench chaos's rate of faults.
# A provider away for longer fails the batch (its rows stay without a vector, for the next sweep), its error naming
# the faults that spent the budget; a refused request (400, a bad key) fails it at once.
EMBED_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
EMBED_BUDGET = timedelta(minutes=30)
BATCH_ACTIVITY = {
    EmbedKind.messages: EmbeddingActivities.embed_messages_batch,
    EmbedKind.atoms: EmbeddingActivities.embed_atoms_batch,
}


class EmbedItemsInput(BaseModel):
    kinds: list[EmbedKind] = Field(min_length=1)
    # None: every row of the kinds still without a vector.
    ids: list[int] | None = Field(default=None, max_length=MAX_IDS)
    # None: the active provider, chosen once when the job starts.
    provider_id: int | None = None
    max_parallel: int = Field(default=4, ge=1, le=16)
    # Carried over continue-as-new: the progress, which kind, and where in it (an offset into `ids`, or the last
    # id listed).
    carried: JobProgress | None = None
    kind_index: int = 0
    cursor: int = 0

    @model_validator(mode="after")
    def ids_name_one_kind(self) -> "EmbedItemsInput":
        if self.ids is not None and len(self.kinds) != 1:
            raise ValueError("ids belong to one kind: give one kind with them")
        return self


class EmbedItemsResult(JobResult):
    provider_id: int | None = None
    # The result the tracker's clients read: {success, failed, skipped}.
    success: int = 0
    failed: int = 0
    skipped: int = 0


@workflow.defn(name="EmbedItems")
class EmbedItemsWorkflow(JobWorkflow):
    # Its task queue's kind (runtime/queues.py): waits on the embedding provider.
    queue_kind = QueueKind.llm

    @workflow.run
    async def run(self, inp: EmbedItemsInput) -> EmbedItemsResult:
        what = " and ".join(k.value for k in inp.kinds)
        if inp.carried is not None:
            self.continue_from(inp.carried, f"embedding {what}")
        else:
            self.begin(total=len(inp.ids) if inp.ids is not None else 0, message=f"embedding {what}")
        provider_id = inp.provider_id
        if provider_id is None:
            choice: ProviderChoice = await workflow.execute_local_activity_method(
                EmbeddingActivities.active_provider, **DB_STEP
            )
            if choice.provider_id is None:
                self.fail("no active LLM provider: create or activate one at /api/v1/providers")
                return self._result(None)
            provider_id = choice.provider_id
        kind_index, cursor, pages = inp.kind_index, inp.cursor, 0
        while kind_index < len(inp.kinds) and not self.cancel_requested:
            if pages >= PAGES_PER_RUN or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                carried = {"carried": self._progress, "provider_id": provider_id}
                workflow.continue_as_new(inp.model_copy(update={**carried, "kind_index": kind_index, "cursor": cursor}))
            kind = inp.kinds[kind_index]
            page, last = await self._page(inp, kind, cursor)
            if page:
                await self._embed_page(kind, page, provider_id, inp.max_parallel)
                pages += 1
            # A short page is the last: what failed in it is not offered again within this run.
            if len(page) < PAGE:
                kind_index, cursor = kind_index + 1, 0
            else:
                cursor = last
        p = self._progress
        self.finish(f"{p.succeeded} embedded, {p.skipped} skipped, {p.failed} failed")
        return self._result(provider_id)

    async def _page(self, inp: EmbedItemsInput, kind: EmbedKind, cursor: int) -> tuple[list[int], int]:
        """The next ids of `kind` and the cursor after them."""
        if inp.ids is not None:
            page = inp.ids[cursor : cursor + PAGE]
            return page, cursor + len(page)
        listed: UnembeddedPage = await workflow.execute_local_activity_method(
            EmbeddingActivities.list_unembedded,
            ListUnembeddedInput(kind=kind, after_id=cursor, limit=PAGE, count=cursor == 0),
            **DB_STEP,
        )
        if listed.remaining is not None:
            self._progress.total += listed.remaining
        # Rows saved after the count still get embedded; the total grows to hold them.
        self._progress.total = max(self._progress.total, self._progress.processed + len(listed.ids))
        return listed.ids, listed.ids[-1] if listed.ids else cursor

    async def _embed_page(self, kind: EmbedKind, page: list[int], provider_id: int, max_parallel: int) -> None:
        batches = [page[i : i + BATCH] for i in range(0, len(page), BATCH)]
        self.set_current(f"{kind.value} {page[0]}..{page[-1]}")

        async def embed(batch: list[int]) -> EmbedBatchResult:
            # A cancel lets the batches in flight finish (one request and one write each) instead of cancelling
            # them: a batch that wrote before its cancel reached it would have its result dropped by Temporal, and
            # the job would report fewer vectors than it wrote. No new batch starts.
            return await self.unstoppable(
                workflow.execute_activity_method(
                    BATCH_ACTIVITY[kind],
                    EmbedBatchInput(ids=batch, provider_id=provider_id),
                    start_to_close_timeout=timedelta(minutes=2),
                    schedule_to_close_timeout=EMBED_BUDGET,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    retry_policy=EMBED_RETRY,
                )
            )

        def done(batch: list[int], outcome: EmbedBatchResult | BaseException) -> None:
            if isinstance(outcome, EmbedBatchResult):
                self.advance(succeeded=outcome.success, skipped=outcome.skipped, failed=outcome.failed)
                for error in outcome.errors:
                    self.record_error(f"{kind.value[:-1]} {error.id}", error.error)
                if outcome.faults:
                    # Which transient faults the provider answered with on the way, over the job's batches.
                    details = self._progress.details
                    details["faults"] = tallied(details.get("faults"), outcome.faults)
            elif not self.cancel_requested:
                self.advance(failed=len(batch))
                self.record_error(f"{kind.value} {batch[0]}..{batch[-1]}", root_cause(outcome))

        await self.run_bounded(batches, embed, done, max_parallel)

    def _result(self, provider_id: int | None) -> EmbedItemsResult:
        p = self._progress
        return EmbedItemsResult(
            status=p.status,
            progress=p,
            provider_id=provider_id,
            success=p.succeeded,
            failed=p.failed,
            skipped=p.skipped,
        )


def embed_job_id(kind: EmbedKind, ids: list[int] | None) -> str:
    """`tracker-embed-<kind>-unembedded` for "everything still without a vector" (asked twice while it runs: the
    same job), a fresh id for a given list."""
    return f"tracker-embed-{kind.value}-" + ("unembedded" if ids is None else uuid.uuid4().hex[:12])


def embed_job(inp: EmbedItemsInput, owner: str) -> JobRequest:
    return JobRequest(EmbedItemsWorkflow.run, inp, JOB_TYPE, owner, embed_job_id(inp.kinds[0], inp.ids))
