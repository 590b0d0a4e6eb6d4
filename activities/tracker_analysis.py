"""Analysis runs: the window's messages prefiltered into batches, each batch's
task proposals from the proposal_generator agent (with RAG context from similar atoms when the run asks), the run's
end. Every step publishes its event in the transaction of the write it reports, numbered by the workflow's seq.
"""

import asyncio
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.tracker_extraction import MESSAGE_CHARS, MessageRef
from clients.llm import LLMClient
from clients.providers import ProviderClients
from db import tracker_agents, tracker_analysis
from db.base import utcnow
from db.events import EventName, JobEvents
from db.models.tracker import AgentConfig, AgentRole, AnalysisRun, JobRecordStatus
from db.session import SessionFactory
from db.tracker_analysis import BatchWritten, ProposalDraft, WindowMessage
from db.tracker_embeddings import active_provider
from db.tracker_search import AtomHit, similar_atoms
from domain.tracker_prefilter import keep
from runtime.errors import calling_llm, resumed_faults

# Atoms offered as context per batch: enough to recall a decision, few enough to keep the prompt short.
RAG_ATOMS = 5
# What of a batch is embedded to find its context: the start of each message, within an embedding's input limit.
RAG_QUERY_CHARS = 8000
# Events carry ids and counts (NOTIFY holds < 8000 bytes): an error's start is enough, the run keeps all of it.
EVENT_ERROR_CHARS = 500


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"


class ProposedTask(BaseModel):
    title: str
    description: str
    priority: Priority
    confidence: float = Field(ge=0.0, le=1.0)
    messages: list[MessageRef]


class TaskProposals(BaseModel):
    proposals: list[ProposedTask]


class JobRef(BaseModel):
    """Whose events these are and the number the next one gets."""

    job_id: str
    owner: str
    seq: int = 1

    def events(self) -> JobEvents:
        return JobEvents(self.job_id, self.owner, next_seq=self.seq)


class StartRunInput(JobRef):
    run_id: int
    # The window's size only (counted by the database), no batches: the workflow then asks for each batch's ids
    # (`next_batch`). A window's every id in one answer passes Temporal's payload limit past ~100,000 messages, and
    # its every text read and prefiltered in one step passes the step's timeout.
    paged: bool = False


class BatchCursor(BaseModel):
    """Where the next batch starts in the window's order: after the message (sent_at, id)."""

    sent_at: datetime | None = None
    message_id: int = 0


class NextBatchInput(BaseModel):
    run_id: int
    after: BatchCursor = Field(default_factory=BatchCursor)
    size: int = Field(ge=1)


class NextBatch(BaseModel):
    # Up to `size` ids the prefilter keeps. Fewer (even none) with `done` false: the step read its most rows, and
    # the window goes on after `after`.
    message_ids: list[int]
    after: BatchCursor  # the last message looked at (kept or not)
    done: bool  # nothing is left after `after`


class RunPlan(BaseModel):
    batches: list[list[int]]  # empty when paged
    agent_config_id: int
    use_rag: bool
    messages_total: int
    # None (paged runs since the prefilter left `start_run`): known only once the window is read.
    messages_after_filter: int | None
    next_seq: int
    batches_total: int | None = 0
    batch_size: int = 50


class ProposeInput(JobRef):
    run_id: int
    batch_index: int
    batches_total: int | None  # None: not known until the window is read (paged runs)
    message_ids: list[int]
    use_rag: bool
    agent_config_id: int
    # Batches the workflow has seen completed before this one: the guard against writing a batch twice.
    completed_before: int


class BatchOutcome(BaseModel):
    proposals: int
    batches_completed: int
    proposals_total: int
    context_atoms: int = 0
    next_seq: int
    # The transient faults the batch's failed attempts met, by kind ("HTTP 503": 3).
    faults: dict[str, int] = Field(default_factory=dict)


class BatchErrorInput(BaseModel):
    run_id: int
    batch_index: int
    error: str
    completed_before: int


class BatchErrorOutcome(BaseModel):
    # The batch's last attempt had written it after all (and lost its answer): not an error.
    written: bool
    batches_completed: int
    proposals_total: int


class FinishRunInput(JobRef):
    run_id: int
    status: JobRecordStatus
    error: str | None = None
    # The batches the workflow saw completed: one more in the row is a batch whose write (and event) landed while
    # a cancel stopped its activity, and the end's event then takes the number after that one.
    completed_before: int = 0
    # What the run found reading its window, when `start_run` did not count it (paged runs): the row's counts.
    messages_after_filter: int | None = None
    batches_total: int | None = None


class RunTally(BaseModel):
    status: JobRecordStatus
    batches_completed: int
    proposals_total: int
    errors: int


def one_line(text: str) -> str:
    return " ".join(text.split())


def numbered(texts: list[str]) -> list[str]:
    """Messages as a prompt lists them and an answer's `MessageRef`s point at them: `[n] text`, from 1."""
    return [f"[{n}] {one_line(text)[:MESSAGE_CHARS]}" for n, text in enumerate(texts, start=1)]


def proposal_request(batch: list[WindowMessage], context: list[AtomHit]) -> str:
    # Context lines carry no list marker: the numbered lines are the messages the answer refers to.
    lines = [
        "Messages of the team's Telegram chats. Propose the tasks they ask for or imply: a title, a description, "
        "a priority, your confidence (0 to 1) and the numbers of the messages each comes from. Propose nothing "
        "for chatter."
    ]
    if context:
        lines.append("Known context from earlier discussions; use it to understand the messages:")
        lines += [f"Context ({atom.type}): {one_line(atom.title)}: {one_line(atom.content)}" for atom in context]
    lines.append("Messages:")
    lines += numbered([m.text for m in batch])
    return "\n".join(lines)


def drafts(answer: TaskProposals, batch: list[WindowMessage]) -> list[ProposalDraft]:
    """The answer with message numbers turned into ids; numbers outside the batch are dropped."""
    return [
        ProposalDraft(
            title=one_line(task.title) or "Untitled",
            description=task.description,
            priority=task.priority.value,
            confidence=task.confidence,
            source_message_ids=list(
                dict.fromkeys(batch[r.index - 1].id for r in task.messages if 1 <= r.index <= len(batch))
            ),
        )
        for task in answer.proposals
    ]


async def needed_config(session: AsyncSession, config_id: int | None, role: AgentRole) -> AgentConfig:
    """The config a job names (or the role's active one): without it the job cannot run, and retrying won't help."""
    config = await tracker_agents.config_for(session, config_id, role)
    if config is None:
        what = f"agent config {config_id}" if config_id is not None else f"an active {role.value} agent config"
        raise ApplicationError(f"there is no {what}", type="NoAgentConfig", non_retryable=True)
    return config


def batches_of(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


class AnalysisActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        llm: LLMClient,
        providers: ProviderClients | None = None,
        rows_per_step: int = 5000,
    ) -> None:
        self._sessions = sessions
        self._llm = llm
        self._providers = providers
        self._rows_per_step = rows_per_step

    @activity.defn(name="tracker.start_run")
    async def start_run(self, inp: StartRunInput) -> RunPlan:
        """Status running, the counts and `run_started`. Paged: the window's messages counted by the database (the
        prefilter's count and the batches are known as `next_batch` reads the window); else every message read,
        prefiltered and cut into batches here, as runs begun before paging still do."""
        if inp.paged:
            return await self._start_paged(inp)
        events = inp.events()
        async with self._sessions() as session:
            run = await self._run(session, inp.run_id)
            config = await needed_config(session, run.agent_config_id, AgentRole.proposal_generator)
            messages = await tracker_analysis.window_messages(session, run.time_window_start, run.time_window_end)
            # Regular expressions over a large window: off the event loop the workflows share.
            kept = await asyncio.to_thread(lambda: [m.id for m in messages if keep(m.text)])
            batches = batches_of(kept, run.batch_size)
            run.status = JobRecordStatus.running.value
            run.started_at = run.started_at or utcnow()
            run.agent_config_id = config.id
            run.messages_total = len(messages)
            run.messages_after_filter = len(kept)
            run.batches_total = len(batches)
            await events.publish(
                session,
                EventName.analysis_run_started,
                {
                    "run_id": run.id,
                    "messages_total": len(messages),
                    "messages_after_filter": len(kept),
                    "batches_total": len(batches),
                },
            )
            await session.commit()
            return RunPlan(
                batches=[] if inp.paged else batches,
                agent_config_id=config.id,
                use_rag=run.use_rag,
                messages_total=len(messages),
                messages_after_filter=len(kept),
                next_seq=events.next_seq,
                batches_total=len(batches),
                batch_size=run.batch_size,
            )

    async def _start_paged(self, inp: StartRunInput) -> RunPlan:
        events = inp.events()
        async with self._sessions() as session:
            run = await self._run(session, inp.run_id)
            config = await needed_config(session, run.agent_config_id, AgentRole.proposal_generator)
            total = await tracker_analysis.window_count(session, run.time_window_start, run.time_window_end)
            run.status = JobRecordStatus.running.value
            run.started_at = run.started_at or utcnow()
            run.agent_config_id = config.id
            run.messages_total = total
            await events.publish(
                session,
                EventName.analysis_run_started,
                {"run_id": run.id, "messages_total": total, "messages_after_filter": None, "batches_total": None},
            )
            await session.commit()
            return RunPlan(
                batches=[],
                agent_config_id=config.id,
                use_rag=run.use_rag,
                messages_total=total,
                messages_after_filter=None,
                next_seq=events.next_seq,
                batches_total=None,
                batch_size=run.batch_size,
            )

    @activity.defn(name="tracker.next_batch")
    async def next_batch(self, inp: NextBatchInput) -> NextBatch:
        """Up to `size` of the next ids after the cursor, as `start_run` would have cut them: the window's messages
        in order, the prefilter's rejects left out. At most `rows_per_step` messages are read: a window the prefilter
        mostly drops answers fewer ids (or none) with `done` false, and the workflow asks again after `after`."""
        async with self._sessions() as session:
            run = await self._run(session, inp.run_id)
            start, end = run.time_window_start, run.time_window_end
            await session.rollback()
            after = (inp.after.sent_at, inp.after.message_id) if inp.after.sent_at is not None else None
            kept: list[int] = []
            cursor = inp.after
            left = self._rows_per_step
            while True:
                read = min(max(inp.size * 4, 200), left)
                page = await tracker_analysis.window_page(session, start, end, after, read)
                left -= len(page)
                verdicts = await asyncio.to_thread(lambda rows=page: [keep(m.text) for m in rows])
                for message, kept_it in zip(page, verdicts, strict=True):
                    cursor = BatchCursor(sent_at=message.sent_at, message_id=message.id)
                    if kept_it:
                        kept.append(message.id)
                        if len(kept) == inp.size:
                            return NextBatch(message_ids=kept, after=cursor, done=False)
                if len(page) < read:
                    return NextBatch(message_ids=kept, after=cursor, done=True)
                if left <= 0:
                    return NextBatch(message_ids=kept, after=cursor, done=False)
                after = (page[-1].sent_at, page[-1].id)  # a full page: the next read starts after its last row

    @activity.defn(name="tracker.propose_batch")
    async def propose_batch(self, inp: ProposeInput) -> BatchOutcome:
        events = inp.events()
        async with self._sessions() as session:
            run = await self._run(session, inp.run_id)
            if run.batches_completed > inp.completed_before:
                # An earlier attempt wrote this batch (and published its event): answer what it wrote.
                return self._outcome(inp, await tracker_analysis.written_before(session, run, inp.batch_index))
            config = await needed_config(session, inp.agent_config_id, AgentRole.proposal_generator)
            system, model = config.system_prompt, config.model
            batch = await tracker_analysis.batch_texts(session, inp.message_ids)
            await session.rollback()  # no lock held while the LLM thinks
        context: list[AtomHit] = []
        answer = TaskProposals(proposals=[])
        # The transient faults earlier attempts met, counted on: a failure names them all.
        faults = resumed_faults()
        if batch:
            async with calling_llm(faults):
                context = await self._context(batch) if inp.use_rag else []
                answer = await self._llm.parse(system, proposal_request(batch, context), TaskProposals, model=model)
        async with self._sessions() as session:
            run = await self._run(session, inp.run_id)
            written = await tracker_analysis.write_batch(
                session, run, inp.batch_index, inp.completed_before, drafts(answer, batch), utcnow()
            )
            if written.written:
                await events.publish(
                    session,
                    EventName.analysis_batch_completed,
                    {
                        "run_id": inp.run_id,
                        "batch": inp.batch_index,
                        "batches_completed": written.batches_completed,
                        "batches_total": inp.batches_total,
                        "proposals": written.proposals,
                        "proposals_total": written.proposals_total,
                    },
                )
            await session.commit()
        return self._outcome(inp, written, len(context), faults.counts)

    @staticmethod
    def _outcome(
        inp: ProposeInput, written: BatchWritten, context_atoms: int = 0, faults: dict[str, int] | None = None
    ) -> BatchOutcome:
        # The batch's event has the number `inp.seq` whichever attempt published it.
        return BatchOutcome(
            proposals=written.proposals,
            batches_completed=written.batches_completed,
            proposals_total=written.proposals_total,
            context_atoms=context_atoms,
            next_seq=inp.seq + 1,
            faults=faults or {},
        )

    async def _context(self, batch: list[WindowMessage]) -> list[AtomHit]:
        """The atoms nearest the batch, its text embedded as `GET /api/v1/search` embeds a query (the active
        provider's model), so it is compared with vectors of the same model; the configured LLM without one."""
        query = "\n".join(one_line(m.text) for m in batch)[:RAG_QUERY_CHARS]
        async with self._sessions() as session:
            provider = await active_provider(session) if self._providers is not None else None
        if provider is None:
            [vector] = await self._llm.embed([query])
        else:
            assert self._providers is not None  # a provider is looked up only when there are providers
            [vector] = await self._providers.embed(provider, [query])  # pyright: ignore[reportArgumentType]  # a stored LLMProvider is a ProviderLike (pyright issue 11021)
        async with self._sessions() as session:
            return await similar_atoms(session, vector, RAG_ATOMS)

    @activity.defn(name="tracker.log_batch_error")
    async def log_batch_error(self, inp: BatchErrorInput) -> BatchErrorOutcome:
        async with self._sessions() as session:
            run = await self._run(session, inp.run_id)
            written = run.batches_completed > inp.completed_before
            if not written:
                tracker_analysis.log_error(run, inp.batch_index, inp.error)
            outcome = BatchErrorOutcome(
                written=written, batches_completed=run.batches_completed, proposals_total=run.proposals_total
            )
            await session.commit()
            return outcome

    @activity.defn(name="tracker.finish_run")
    async def finish_run(self, inp: FinishRunInput) -> RunTally:
        """The run's status and end, and `run_completed` or `run_failed` (a cancelled run did not complete: it is
        reported as failed, with status `cancelled` in the event)."""
        async with self._sessions() as session:
            run = await self._run(session, inp.run_id)
            unseen = max(0, run.batches_completed - inp.completed_before)
            events = JobEvents(inp.job_id, inp.owner, next_seq=inp.seq + unseen)
            if inp.error:
                tracker_analysis.log_error(run, None, inp.error)
            if inp.messages_after_filter is not None:
                run.messages_after_filter = inp.messages_after_filter
            if inp.batches_total is not None:
                run.batches_total = inp.batches_total
            run.status = inp.status.value
            run.completed_at = run.completed_at or utcnow()
            tally = RunTally(
                status=inp.status,
                batches_completed=run.batches_completed,
                proposals_total=run.proposals_total,
                errors=len(run.error_log or []),
            )
            data = {"run_id": run.id, "status": inp.status.value, **tally.model_dump(exclude={"status"})}
            data["batches_total"] = run.batches_total
            if inp.status == JobRecordStatus.completed:
                await events.publish(session, EventName.analysis_run_completed, data)
            else:
                error = (inp.error or "")[:EVENT_ERROR_CHARS] or None
                await events.publish(session, EventName.analysis_run_failed, {**data, "error": error})
            await session.commit()
            return tally

    @staticmethod
    async def _run(session: AsyncSession, run_id: int) -> AnalysisRun:
        run = await tracker_analysis.locked_run(session, run_id)
        if run is None:
            raise ApplicationError(f"analysis run {run_id} not found", type="NotFound", non_retryable=True)
        return run
