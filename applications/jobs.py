"""What every job shares on the worker: the steps that write its record in Postgres (workflows/job_records.py).
No workflows or routes of its own: the jobs API is served with the shared routers (api/app.py)."""

from typing import TYPE_CHECKING

from applications.application import Application

if TYPE_CHECKING:
    from worker import Dependencies


def activities(deps: "Dependencies") -> list:
    from activities.job_records import JobRecordActivities  # only the worker builds steps

    steps = JobRecordActivities(deps.sessions)
    return [steps.record_start, steps.record_close]


APPLICATION = Application(name="jobs", workflows=(), activities=activities, routers=lambda: [])
