"""WebBuddy query processing: claim, answer through the LLM, finish; and the reconcile sweep."""

from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.errors import LLM_ERRORS, llm_failure
from activities.heartbeat import heartbeating
from clients.llm import LLMClient
from clients.temporal import start_job
from db import query_claims
from db.base import utcnow
from db.models import Query, QueryStatus
from db.session import SessionFactory

ANSWER_PROMPT = "You are WebBuddy, an assistant that carries out a user's request about their web project."

QUERY_JOB_TYPE = "webbuddy_query"
QUERY_WORKFLOW = "ProcessQuery"


def query_job_id(query_id: int) -> str:
    """One workflow id per query, so starting its job twice finds the running one."""
    return f"webbuddy-query-{query_id}"


class ProcessQueryInput(BaseModel):
    query_id: int


async def start_query_job(client: Client, query_id: int, owner: str, task_queue: str) -> str:
    handle = await start_job(
        client,
        QUERY_WORKFLOW,
        ProcessQueryInput(query_id=query_id),
        job_id=query_job_id(query_id),
        job_type=QUERY_JOB_TYPE,
        owner=owner,
        task_queue=task_queue,
    )
    return handle.id


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


class WebBuddyActivities:
    def __init__(self, sessions: SessionFactory, llm: LLMClient, temporal: Client | None = None) -> None:
        self._sessions = sessions
        self._llm = llm
        # Reconcile starts workflows; the worker hands over its own client.
        self._temporal = temporal

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
        async with heartbeating():
            try:
                answer = await self._llm.complete(ANSWER_PROMPT, query.query_text)
            except LLM_ERRORS as exc:
                raise llm_failure(exc) from exc
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
        async with self._sessions() as session:
            requeued = await query_claims.requeue_stale_external(session, timedelta(seconds=inp.stale_claim_seconds))
            waiting = await query_claims.waiting_queries(
                session, utcnow() - timedelta(seconds=inp.grace_seconds), inp.batch
            )
        ensured = []
        for query_id, owner in waiting:
            activity.heartbeat(query_id)
            await start_query_job(self._temporal, query_id, owner, activity.info().task_queue)
            ensured.append(query_id)
        return ReconcileResult(requeued=requeued, ensured=ensured)
