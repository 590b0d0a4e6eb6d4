"""The smallest complete long operation on Longrun's job protocol: a workflow, its activity and its endpoint.

A real job splits these over `workflows/`, `activities/` and `api/routes/` and registers them in its application
(docs/jobs.md, "Adding a long operation"); here they sit together so the whole shape is on one screen.
`tests/test_example_job.py` runs this file.
"""

from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ActivityCancellationType

from workflows.base import JobError, JobResult, JobWorkflow, root_cause

with workflow.unsafe.imports_passed_through():
    from fastapi import APIRouter, status

    from api.deps import JobsDep, People
    from api.jobs import JobStarted
    from applications.application import Application
    from runtime.queues import QueueKind
    from workflows.start import JobRequest

JOB_TYPE = "word_count"


class WordCountInput(BaseModel):
    """The job's input: what a person asked for. It is in workflow history, so no secrets here."""

    texts: list[str] = Field(min_length=1, max_length=10_000)
    batch: int = Field(100, ge=1, le=1000)


class WordCountResult(JobResult):
    """What the job answers once closed (`GET /api/v1/jobs/{id}` shows it as `result`)."""

    words: int = 0
    failed_batches: list[JobError] = Field(default_factory=list)


@activity.defn(name="example.count_words")
async def count_words(texts: list[str]) -> int:
    """The work itself, a batch at a time: an activity may do I/O, is retried, and runs on any worker."""
    if any(text.startswith("!fail") for text in texts):
        # Bad input will not get better by retrying: say so, or Temporal retries it for ever.
        raise ApplicationError("a text asked to fail", non_retryable=True)
    return sum(len(text.split()) for text in texts)


@workflow.defn(name="WordCount")
class WordCountWorkflow(JobWorkflow):
    """Deterministic orchestration only: which batches run, how many at once, what the progress says."""

    # Its task queue's kind (runtime/queues.py).
    queue_kind = QueueKind.interactive

    @workflow.run
    async def run(self, inp: WordCountInput) -> WordCountResult:
        batches = [inp.texts[i : i + inp.batch] for i in range(0, len(inp.texts), inp.batch)]
        result = WordCountResult(status=self._progress.status, progress=self._progress)
        self.begin(total=len(inp.texts), message=f"counting the words of {len(inp.texts)} texts")

        async def count(batch: list[str]) -> int:
            return await workflow.execute_activity(
                count_words,
                batch,
                start_to_close_timeout=timedelta(minutes=1),
                # A cancelled job waits for its running activities to stop before it says `cancelled`.
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )

        def done(batch: list[str], outcome: int | BaseException) -> None:
            if isinstance(outcome, int):
                result.words += outcome
                self.advance(succeeded=len(batch))
            elif not self.cancel_requested:
                error = JobError(item=f"batch starting {batch[0][:20]!r}", error=root_cause(outcome))
                result.failed_batches.append(error)
                self.record_error(error.item, error.error)
                self.advance(failed=len(batch))

        await self.run_bounded(batches, count, done, max_parallel=4)
        result.status = self.finish(f"{result.words} words")
        result.progress = self._progress
        return result


router = APIRouter(prefix="/api/v1/examples", tags=["examples"])


@router.post("/word-count", status_code=status.HTTP_202_ACCEPTED)
async def start_word_count(body: WordCountInput, who: People, jobs: JobsDep) -> JobStarted:
    """Start the job and answer at once; progress at `/api/v1/jobs/{job_id}`, cancel at `.../cancel`."""
    return JobStarted(job_id=await jobs.start(JobRequest(WordCountWorkflow.run, body, JOB_TYPE, who.username)))


# Its registration, in the shape of every module in `applications/`. The example is no product, so it stays out of
# APPLICATIONS: its test gives it a worker and an app of its own.
APPLICATION = Application(
    name="examples", workflows=(WordCountWorkflow,), activities=lambda deps: [count_words], routers=lambda: [router]
)
