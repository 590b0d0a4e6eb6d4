"""1C sync: bank transactions and contractors read from 1C over OData, classified by rules and the LLM (docs/1c.md).

The tasks API (`/api/v1/tasks`) is the 1C front end's shape but lists every job, so api/app.py serves it with the
shared routers."""

from typing import TYPE_CHECKING

from applications.application import Application
from workflows.onec import (
    ScheduledOneCSyncWorkflow,
    SyncBankTransactionsWorkflow,
    SyncContractorsWorkflow,
    scheduled_job,
)
from workflows.start import start_job

if TYPE_CHECKING:
    from activities.onec import ScheduledSync
    from worker import Dependencies


def activities(deps: "Dependencies") -> list:
    # Imported here: only the worker builds steps, and the API reads this module for its routers.
    from activities.onec import OneCActivities

    async def start_scheduled(sync: "ScheduledSync") -> str:
        return (await start_job(deps.client, deps.settings, scheduled_job(sync))).id

    steps = OneCActivities(deps.sessions, deps.onec, deps.llm, deps.settings.onec_categories, start_scheduled)
    return [
        steps.count,
        steps.sync_page,
        steps.apply_rules,
        steps.classify_by_rules,
        steps.classify_with_llm,
        steps.start_scheduled,
    ]


def routers() -> list:
    from api.routes import onec  # imported here: the worker reads this module for its workflows

    return [onec.router]


APPLICATION = Application(
    name="onec",
    workflows=(SyncBankTransactionsWorkflow, SyncContractorsWorkflow, ScheduledOneCSyncWorkflow),
    activities=activities,
    routers=routers,
)
