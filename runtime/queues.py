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
