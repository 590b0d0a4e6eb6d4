"""Every way a ProcessQuery run can end leaves its query closed, or never claimed.

Ends forced here, with stub activities: answered; the LLM failing for good; claimed elsewhere; the
cancel signal before the claim and during the answer; Temporal's cancel during the claim, the answer
and the finish. The ends no workflow code can see (terminated, failed, timed out) are closed by the
reconcile sweep: `tests/webbuddy/test_webbuddy.py::test_a_terminated_run_gets_its_query_closed_by_reconcile`.
"""

import os

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError

from activities.webbuddy import Claim, ClaimInput, FinishInput, ProcessQueryInput
from db.models.webbuddy import QueryStatus
from devstack.clients import eventually
from tests.support.histories import record
from tests.workflows.stubs import Gate, heartbeat_until_cancelled
from workflows.base import JobStatus
from workflows.start import start_job
from workflows.webbuddy import CANCELLED_BY_USER, ProcessQueryWorkflow, query_job

QUERY = 7


class Queue:
    """The three WebBuddy steps; each can be held at a gate, the answer can fail or run until cancelled."""

    def __init__(self, *, holder: str | None = None, answer: str | Exception | None = "the answer") -> None:
        self.holder = holder
        self.answer_with = answer
        self.claim_gate, self.finish_gate = Gate(), Gate()
        self.claim_gate.release()
        self.finish_gate.release()
        self.answers = 0
        self.answer_cancelled = False
        self.finished: list[FinishInput] = []

    @activity.defn(name="webbuddy.claim")
    async def claim(self, inp: ClaimInput) -> Claim:
        await self.claim_gate.enter(inp.query_id)
        if self.holder:
            return Claim(claimed=False, holder=self.holder)
        return Claim(claimed=True, project_id=1)

    @activity.defn(name="webbuddy.answer")
    async def answer(self, inp: ClaimInput) -> str:
        self.answers += 1
        if self.answer_with is None:
            await heartbeat_until_cancelled(lambda: setattr(self, "answer_cancelled", True))
        if isinstance(self.answer_with, Exception):
            raise self.answer_with
        return self.answer_with

    @activity.defn(name="webbuddy.finish")
    async def finish(self, inp: FinishInput) -> bool:
        await self.finish_gate.enter(inp.query_id)
        self.finished.append(inp)
        return True

    def activities(self) -> list:
        return [self.claim, self.answer, self.finish]

    @property
    def closed_as(self) -> tuple[QueryStatus, str | None, str | None]:
        [finish] = self.finished  # closed exactly once
        return finish.status, finish.answer, finish.error


async def run(env, run_worker, queue: Queue, act=None, *, start_signal: str | None = None):
    """Run one query's workflow to its end; `act(handle)` runs while it is under way.

    Workflow tasks time out after 1 s here: a local activity that outlasts most of one lets the
    task complete, so a cancel can reach the workflow while the step still runs.
    """
    async with run_worker([ProcessQueryWorkflow], queue.activities(), workflow_task_timeout_seconds=1) as settings:
        if start_signal:
            job = query_job(QUERY, "tester")
            handle = await env.client.start_workflow(
                ProcessQueryWorkflow.run,
                ProcessQueryInput(query_id=QUERY),
                id=job.id(),
                task_queue=settings.task_queue,
                start_signal=start_signal,
                start_signal_args=["changed my mind"],
            )
        else:
            handle = await start_job(env.client, settings, query_job(QUERY, "tester"))
        if act:
            await act(handle)
        result = await handle.result()
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    return result


async def test_answered(env, run_worker):
    queue = Queue()
    result = await run(env, run_worker, queue)
    assert (result.outcome, result.status, result.answer) == ("done", JobStatus.completed, "the answer")
    assert queue.closed_as == (QueryStatus.done, "the answer", None)
    assert result.progress.details["logs_written"] == 3


async def test_llm_failing_for_good_closes_it_failed(env, run_worker):
    queue = Queue(answer=ApplicationError("LLM: 400 bad request", non_retryable=True))
    result = await run(env, run_worker, queue)
    assert (result.outcome, result.status) == ("failed", JobStatus.failed)
    assert queue.closed_as == (QueryStatus.failed, None, "LLM: 400 bad request") and queue.answers == 1


async def test_claimed_elsewhere_touches_nothing(env, run_worker):
    queue = Queue(holder="external")
    result = await run(env, run_worker, queue)
    assert (result.outcome, result.progress.details["claimed_by"]) == ("claimed_elsewhere", "external")
    assert queue.answers == 0 and queue.finished == []


async def test_cancel_signal_before_the_claim(env, run_worker):
    queue = Queue()
    result = await run(env, run_worker, queue, start_signal="cancel")
    assert (result.outcome, result.status) == ("cancelled", JobStatus.cancelled)
    assert queue.closed_as == (QueryStatus.failed, None, CANCELLED_BY_USER)
    assert sum(queue.claim_gate.entered.values()) == 0 and queue.answers == 0


async def test_cancel_signal_during_the_answer(env, run_worker):
    queue = Queue(answer=None)

    async def cancel_while_answering(handle):
        await wait_for_answer(queue)
        await handle.signal("cancel", "changed my mind")

    result = await run(env, run_worker, queue, cancel_while_answering)
    assert (result.outcome, result.status) == ("cancelled", JobStatus.cancelled) and queue.answer_cancelled
    assert queue.closed_as == (QueryStatus.failed, None, CANCELLED_BY_USER)


async def test_temporal_cancel_during_the_claim_still_closes_the_query(env, run_worker):
    queue = Queue()
    queue.claim_gate = Gate()

    async def cancel_while_claiming(handle):
        await queue.claim_gate.reached(1, "the claim under way")
        await handle.cancel()
        await cancel_seen(handle)
        # The claim commits after the cancel landed: the run must close what it now holds.
        queue.claim_gate.release()

    result = await run(env, run_worker, queue, cancel_while_claiming)
    assert (result.outcome, result.status) == ("cancelled", JobStatus.cancelled)
    assert queue.closed_as == (QueryStatus.failed, None, CANCELLED_BY_USER) and queue.answers == 0
    if os.environ.get("LONGRUN_RECORD_HISTORIES"):
        await record(env.client, query_job(QUERY, "tester").id(), "ProcessQuery-cancelled-during-claim")


async def test_temporal_cancel_during_the_answer(env, run_worker):
    queue = Queue(answer=None)

    async def cancel_while_answering(handle):
        await wait_for_answer(queue)
        await handle.cancel()

    result = await run(env, run_worker, queue, cancel_while_answering)
    assert (result.outcome, result.status) == ("cancelled", JobStatus.cancelled) and queue.answer_cancelled
    assert queue.closed_as == (QueryStatus.failed, None, CANCELLED_BY_USER)


async def test_temporal_cancel_during_the_finish_lets_it_finish(env, run_worker):
    queue = Queue()
    queue.finish_gate = Gate()

    async def cancel_while_finishing(handle):
        await queue.finish_gate.reached(1, "the finish under way")
        await handle.cancel()
        await cancel_seen(handle)
        queue.finish_gate.release()

    result = await run(env, run_worker, queue, cancel_while_finishing)
    assert queue.closed_as == (QueryStatus.done, "the answer", None)
    assert result.outcome == "done" and result.answer == "the answer"


async def cancel_seen(handle) -> None:
    """Until the workflow has taken Temporal's cancel in, while a step of it is held."""

    async def seen():
        return (await handle.query(ProcessQueryWorkflow.progress)).status == JobStatus.cancelling

    await eventually(seen, "the workflow to see the cancel", within=20, interval=0.05)


async def wait_for_answer(queue: Queue) -> None:
    async def answering():
        return queue.answers == 1

    await eventually(answering, "the answer under way", within=20, interval=0.02)
