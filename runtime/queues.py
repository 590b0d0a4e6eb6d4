"""The task queues Longrun's work is split across, one per kind of work, so that a 10,000-post migration or a year of
1C documents cannot delay the tracker's webhook chain.

A job runs on its kind's queue (`workflows/start.py` picks it from the job's workflow); a worker serves the kinds
`LONGRUN_WORKER_QUEUES` names (all of them by default, as `make up` runs one worker). Each queue is named
`<task_queue>-<kind>`, so stacks that share one Temporal namespace keep their own queues as before.
"""

from enum import StrEnum


class QueueKind(StrEnum):
    # Someone or something waits on it: the tracker's webhook chain (inbox, scoring), WebBuddy's queries, news.
    interactive = "interactive"
    # Outside-facing bulk: crossposting's downloads, uploads and sends, 1C's pages, the tracker's ingestion.
    bulk = "bulk"
    # Work that waits on an LLM or an embedding provider: extraction, analysis, experiments, embeddings.
    llm = "llm"


def queue_name(task_queue: str, kind: QueueKind) -> str:
    return f"{task_queue}-{kind.value}"


def parse_kinds(names: str) -> tuple[QueueKind, ...]:
    """The kinds a worker serves, from `LONGRUN_WORKER_QUEUES` or `--queues` ("bulk,llm"); empty means all of them."""
    wanted = [name.strip().lower() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in QueueKind.__members__]
    if unknown:
        known = ", ".join(QueueKind.__members__)
        raise ValueError(f"unknown queue kind {', '.join(map(repr, unknown))}: the kinds are {known}")
    return tuple(QueueKind(name) for name in dict.fromkeys(wanted)) or tuple(QueueKind)


def worker_queues(task_queue: str, kinds: tuple[QueueKind, ...]) -> dict[str, QueueKind]:
    """The queues a worker serving `kinds` polls, each with the kind whose sizing it takes.

    The interactive worker also polls `task_queue` itself, the single queue of the releases before the split: runs
    started there (and their continue-as-new successors, which keep their queue) finish there, and a workflow that
    declares no kind (the benches' own) is started there (`workflows/start.py`).
    """
    queues = {queue_name(task_queue, kind): kind for kind in kinds}
    if QueueKind.interactive in kinds:
        queues[task_queue] = QueueKind.interactive
    return queues


def deployment_queues(task_queue: str) -> list[str]:
    """Every queue a deployment's jobs can run on: visibility queries that list its jobs filter by these."""
    return list(worker_queues(task_queue, tuple(QueueKind)))
