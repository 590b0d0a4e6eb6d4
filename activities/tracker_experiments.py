"""Classification experiments: messages whose topic is known,
classified again by the topic_classifier agent; how often it agrees (accuracy) and where it does not (the
confusion matrix, {"actual": {"predicted": n}}).

Progress events go out at most one per 10 messages (`EventThrottle`), decided from the counts the workflow passes
in, so a retried batch publishes the same events under the same numbers.
"""

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.tracker_analysis import EVENT_ERROR_CHARS, JobRef, needed_config, numbered, one_line
from clients.llm import LLMClient
from db import tracker_experiments
from db.base import utcnow
from db.events import EventName
from db.models.tracker import AgentRole, ClassificationExperiment, JobRecordStatus
from db.session import SessionFactory
from db.tracker_experiments import LabelledMessage
from runtime.errors import calling_llm, resumed_faults
from runtime.event_throttle import EventThrottle

PROGRESS_EVERY = 10
# What a prediction is recorded as when the answer names no known topic, or skips the message.
UNKNOWN = "(unknown)"
MISSING = "(none)"


class MessageTopic(BaseModel):
    index: int = Field(description="the number of a message in the list")
    topic: str = Field(description="the name of its topic, exactly as listed")


class TopicClassification(BaseModel):
    messages: list[MessageTopic]


class Tally(BaseModel):
    classified: int = 0
    correct: int = 0
    confusion_matrix: dict[str, dict[str, int]] = Field(default_factory=dict)

    def plus(self, pairs: list[tuple[str, str]]) -> "Tally":
        """This tally with (actual, predicted) pairs added."""
        matrix = {actual: dict(row) for actual, row in self.confusion_matrix.items()}
        for actual, predicted in pairs:
            row = matrix.setdefault(actual, {})
            row[predicted] = row.get(predicted, 0) + 1
        correct = sum(1 for actual, predicted in pairs if actual == predicted)
        return Tally(classified=self.classified + len(pairs), correct=self.correct + correct, confusion_matrix=matrix)

    @classmethod
    def of(cls, experiment: ClassificationExperiment) -> "Tally":
        return cls(
            classified=experiment.classified,
            correct=experiment.correct,
            confusion_matrix=experiment.confusion_matrix or {},
        )


class StartExperimentInput(JobRef):
    experiment_id: int


class ExperimentPlan(BaseModel):
    message_ids: list[int]
    agent_config_id: int
    next_seq: int


class ClassifyInput(JobRef):
    experiment_id: int
    agent_config_id: int
    message_ids: list[int]
    total: int
    # The tally before this batch, and the `processed` count of the last progress event sent.
    before: Tally
    last_progress: int | None = None


class ClassifyOutcome(BaseModel):
    tally: Tally
    next_seq: int
    last_progress: int | None


class FinishExperimentInput(JobRef):
    experiment_id: int
    status: JobRecordStatus
    error: str | None = None


class ExperimentTally(Tally):
    status: JobRecordStatus
    accuracy: float | None


def classification_request(topics: list[str], batch: list[LabelledMessage]) -> str:
    # The topics on one line: numbered lines are the messages the answer refers to.
    lines = [
        "Classify each numbered message of a team's Telegram chat into one of the known topics; answer with the "
        "topic's name exactly as listed.",
        "Known topics: " + " | ".join(topics),
        "Messages:",
    ]
    lines += numbered([m.text for m in batch])
    return "\n".join(lines)


def _key(name: str) -> str:
    return one_line(name).casefold()


def predictions(answer: TopicClassification, topics: list[str], batch: list[LabelledMessage]) -> list[tuple[str, str]]:
    """(actual, predicted) for every message of the batch; a name matches a known topic whatever its case."""
    by_key = {_key(name): name for name in topics}
    predicted: dict[int, str] = {}
    for item in answer.messages:
        if 1 <= item.index <= len(batch):
            predicted.setdefault(item.index, by_key.get(_key(item.topic), UNKNOWN))
    return [(m.topic, predicted.get(n, MISSING)) for n, m in enumerate(batch, start=1)]


class ExperimentActivities:
    def __init__(self, sessions: SessionFactory, llm: LLMClient) -> None:
        self._sessions = sessions
        self._llm = llm

    @activity.defn(name="tracker.start_experiment")
    async def start_experiment(self, inp: StartExperimentInput) -> ExperimentPlan:
        events = inp.events()
        async with self._sessions() as session:
            experiment = await self._experiment(session, inp.experiment_id)
            config = await needed_config(session, experiment.agent_config_id, AgentRole.topic_classifier)
            ids = await tracker_experiments.labelled_ids(session, experiment.message_count, experiment.telegram_chat_id)
            experiment.status = JobRecordStatus.running.value
            experiment.started_at = experiment.started_at or utcnow()
            experiment.agent_config_id = config.id
            await events.publish(
                session,
                EventName.experiment_started,
                {"experiment_id": experiment.id, "messages_total": len(ids)},
            )
            await session.commit()
            return ExperimentPlan(message_ids=ids, agent_config_id=config.id, next_seq=events.next_seq)

    @activity.defn(name="tracker.classify_batch")
    async def classify_batch(self, inp: ClassifyInput) -> ClassifyOutcome:
        async with self._sessions() as session:
            experiment = await self._experiment(session, inp.experiment_id)
            if experiment.classified > inp.before.classified:
                return self._written(inp, Tally.of(experiment))
            config = await needed_config(session, inp.agent_config_id, AgentRole.topic_classifier)
            system, model = config.system_prompt, config.model
            batch = await tracker_experiments.labelled(session, inp.message_ids)
            topics = sorted({*await tracker_experiments.known_topics(session), *(m.topic for m in batch)})
            await session.rollback()  # no lock held while the LLM thinks
        if batch:
            # The transient faults earlier attempts met, counted on: a failure names them all.
            async with calling_llm(resumed_faults()):
                answer = await self._llm.parse(
                    system, classification_request(topics, batch), TopicClassification, model=model
                )
            tally = inp.before.plus(predictions(answer, topics, batch))
        else:
            tally = inp.before
        async with self._sessions() as session:
            experiment = await self._experiment(session, inp.experiment_id)
            if experiment.classified > inp.before.classified:
                return self._written(inp, Tally.of(experiment))
            experiment.classified, experiment.correct = tally.classified, tally.correct
            experiment.confusion_matrix = tally.confusion_matrix
            outcome = self._written(inp, tally)
            if outcome.next_seq > inp.seq:
                await inp.events().publish(
                    session,
                    EventName.experiment_progress,
                    {
                        "experiment_id": experiment.id,
                        "classified": tally.classified,
                        "correct": tally.correct,
                        "total": inp.total,
                    },
                )
            await session.commit()
            return outcome

    @staticmethod
    def _written(inp: ClassifyInput, tally: Tally) -> ClassifyOutcome:
        """The outcome of a batch written with `tally`: whether its progress event is due follows from the counts,
        so an attempt that finds the batch written already answers the numbers its predecessor used."""
        throttle = EventThrottle(every=PROGRESS_EVERY, last=inp.last_progress)
        due = throttle.due(tally.classified, inp.total)
        return ClassifyOutcome(tally=tally, next_seq=inp.seq + int(due), last_progress=throttle.last)

    @activity.defn(name="tracker.finish_experiment")
    async def finish_experiment(self, inp: FinishExperimentInput) -> ExperimentTally:
        """Accuracy, status and end, and `experiment_completed` or `experiment_failed` (a cancelled experiment
        is reported as failed, with status `cancelled` in the event)."""
        events = inp.events()
        async with self._sessions() as session:
            experiment = await self._experiment(session, inp.experiment_id)
            experiment.accuracy = experiment.correct / experiment.classified if experiment.classified else None
            experiment.status = inp.status.value
            experiment.completed_at = experiment.completed_at or utcnow()
            if inp.error:
                experiment.error_message = inp.error
            result = ExperimentTally(
                **Tally.of(experiment).model_dump(), status=inp.status, accuracy=experiment.accuracy
            )
            data = {
                "experiment_id": experiment.id,
                "status": inp.status.value,
                "classified": result.classified,
                "correct": result.correct,
                "accuracy": result.accuracy,
            }
            if inp.status == JobRecordStatus.completed:
                await events.publish(session, EventName.experiment_completed, data)
            else:
                error = (inp.error or "")[:EVENT_ERROR_CHARS] or None
                await events.publish(session, EventName.experiment_failed, {**data, "error": error})
            await session.commit()
            return result

    @staticmethod
    async def _experiment(session, experiment_id: int) -> ClassificationExperiment:
        experiment = await tracker_experiments.locked_experiment(session, experiment_id)
        if experiment is None:
            raise ApplicationError(
                f"classification experiment {experiment_id} not found", type="NotFound", non_retryable=True
            )
        return experiment
