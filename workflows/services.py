"""Services: long-lived workflows that keep an application working (the tracker's inbox drainer), as opposed to jobs
a person starts and waits for. They carry JobType like a job (progress, the Web UI's list), but the jobs API lists them
apart, with their health, and refuses to cancel them: cancelling the drainer would stop the tracker.

Not workflow code: the API reads this to tell services from jobs.
"""

from dataclasses import dataclass

from settings import Settings
from workflows.schedules import schedule_id
from workflows.tracker_inbox import INBOX_ID, INBOX_JOB


@dataclass(frozen=True)
class Service:
    job_type: str
    # Its workflow id's base: one per deployment (a task queue other than the default adds its name).
    base_id: str
    # What it does, and what stopping it would break: said to whoever tries to cancel it.
    does: str

    def workflow_id(self, settings: Settings) -> str:
        return schedule_id(self.base_id, settings)


SERVICES: dict[str, Service] = {
    INBOX_JOB: Service(
        INBOX_JOB,
        INBOX_ID,
        "the tracker's inbox drainer saves, scores and announces every message Telegram delivers; "
        "without it no message reaches the tracker",
    ),
}


def is_service(job_type: str | None) -> bool:
    return job_type in SERVICES
