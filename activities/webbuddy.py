"""WebBuddy query processing: claim, answer through the LLM, finish; and the reconcile sweep."""

from collections.abc import Awaitable, Callable
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from clients.llm import LLMClient
from db import query_claims
from db.base import utcnow
from db.models import Query, QueryStatus
from db.models.webbuddy import WORKFLOW_CLAIM
from db.session import SessionFactory
from runtime.errors import calling_llm, resumed_faults

ANSWER_PROMPT = "You are WebBuddy, an assistant that carries out a user's request about their web project."

QUERY_WORKFLOW = "ProcessQuery"


def query_job_id(query_id: int) -> str:
    """One workflow id per query, so starting its job twice finds the running one."""
    return f"webbuddy-query-{query_id}"


class ProcessQueryInput(BaseModel):
    query_id: int


# Starts (or finds) the workflow of a query for its owner; the worker wires it to `workflows.start`.
StartQuery = Callable[[int, str], Awaitable[object]]


class ClaimInput(BaseModel):
    query_id: int
    claimer: str


class Claim(BaseModel):
    claimed: bool
    project_id: int | None = None
    holder: str | None = None


class FinishInput(BaseModel):
    query_id: int
    claimer: str
    status: QueryStatus
    answer: str | None = None
    error: str | None = None
    log: str


class ReconcileInput(BaseModel):
    grace_seconds: float
    stale_claim_seconds: float
    batch: int = 500


class ReconcileResult(BaseModel):
    requeued: list[int]
    ensured: list[int]
    # Queries whose workflow run ended without closing them (terminated, failed, timed out).
    closed: list[int] = Field(default_factory=list)


class WebBuddyActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        llm: LLMClient,
        temporal: Client | None = None,
        start_query: StartQuery | None = None,
    ) -> None:
        self._sessions = sessions
        self._llm = llm
        # Reconcile asks Temporal how runs ended and starts missing ones; the worker hands both over.
        self._temporal = temporal
        self._start_query = start_query

    @activity.defn(name="webbuddy.claim")
    async def claim(self, inp: ClaimInput) -> Claim:
        async with self._sessions() as session:
            query = await query_claims.claim(session, inp.query_id, inp.claimer, "claimed by the Longrun workflow")
            if query is None:
                other = await session.get(Query, inp.query_id)
                if other is None:
                    raise ApplicationError(f"query {inp.query_id} does not exist", type="NotFound", non_retryable=True)
                return Claim(claimed=False, holder=other.claimed_by or other.status)
            return Claim(claimed=True, project_id=query.project_id)

    @activity.defn(name="webbuddy.answer")
    async def answer(self, inp: ClaimInput) -> str:
        async with self._sessions() as session:
            query = await session.get(Query, inp.query_id)
        if query is None:
            raise ApplicationError(f"query {inp.query_id} was deleted", type="NotFound", non_retryable=True)
        if query.answer_text and query.claimed_by == inp.claimer:
            return query.answer_text  # an earlier attempt got it and then lost its worker
        async with self._sessions() as session:
            await query_claims.write_stage_log(session, query, "answering", "asking the LLM")
        # The transient faults earlier attempts met, counted on: a failure names them all.
        async with calling_llm(resumed_faults()):
            answer = await self._llm.complete(ANSWER_PROMPT, query.query_text)
        async with self._sessions() as session:
            await query_claims.save_answer(session, query.id, inp.claimer, answer)
        return answer

    @activity.defn(name="webbuddy.finish")
    async def finish(self, inp: FinishInput) -> bool:
        async with self._sessions() as session:
            return await query_claims.finish(
                session, inp.query_id, inp.claimer, inp.status, inp.answer, inp.error, inp.log
            )

    @activity.defn(name="webbuddy.reconcile")
    async def reconcile(self, inp: ReconcileInput) -> ReconcileResult:
        quiet_since = utcnow() - timedelta(seconds=inp.grace_seconds)
        async with self._sessions() as session:
            requeued = await query_claims.requeue_stale_external(session, timedelta(seconds=inp.stale_claim_seconds))
            held = await query_claims.quiet_workflow_claims(session, quiet_since, inp.batch)
        closed = []
        for query_id, claimer in held:
            activity.heartbeat(query_id)
            ended = await self._run_ended(query_id, claimer)
            if ended is None:
                continue
            async with self._sessions() as session:
                error = f"its job ended ({ended}) without closing the query"
                if await query_claims.finish(
                    session, query_id, claimer, QueryStatus.failed, None, error, f"failed: {error}"
                ):
                    closed.append(query_id)
        async with self._sessions() as session:
            waiting = await query_claims.waiting_queries(session, quiet_since, inp.batch)
        ensured = []
        for query_id, owner in waiting:
            activity.heartbeat(query_id)
            assert self._start_query is not None, "the worker gives WebBuddyActivities its start_query"
            await self._start_query(query_id, owner)
            ensured.append(query_id)
        return ReconcileResult(requeued=requeued, ensured=ensured, closed=closed)

    async def _run_ended(self, query_id: int, claimer: str) -> str | None:
        """How the run holding a query's claim ended (`terminated`, `failed`...), or None while it runs."""
        run_id = claimer.removeprefix(WORKFLOW_CLAIM)
        assert self._temporal is not None, "the worker gives WebBuddyActivities its Temporal client"
        handle = self._temporal.get_workflow_handle(query_job_id(query_id), run_id=run_id)
        try:
            status = (await handle.describe()).status
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return "deleted"
        return None if status in (None, WorkflowExecutionStatus.RUNNING) else status.name.lower()
