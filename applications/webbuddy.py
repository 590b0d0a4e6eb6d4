"""WebBuddy: each query answered through the LLM as a workflow, beside the external workers (docs/webbuddy.md)."""

from typing import TYPE_CHECKING

from applications.application import Application
from workflows.start import start_job
from workflows.webbuddy import ProcessQueryWorkflow, ReconcileQueriesWorkflow, query_job

if TYPE_CHECKING:
    from worker import Dependencies


def activities(deps: "Dependencies") -> list:
    # Imported here: only the worker builds steps, and the API reads this module for its routers.
    from activities.webbuddy import WebBuddyActivities

    async def start_query(query_id: int, owner: str) -> None:
        await start_job(deps.client, deps.settings, query_job(query_id, owner))

    steps = WebBuddyActivities(deps.sessions, deps.llm, deps.client, start_query)
    return [steps.claim, steps.answer, steps.finish, steps.reconcile]


def routers() -> list:
    from api.routes import webbuddy  # imported here: the worker reads this module for its workflows

    return [webbuddy.router]


APPLICATION = Application(
    name="webbuddy",
    workflows=(ProcessQueryWorkflow, ReconcileQueriesWorkflow),
    activities=activities,
    routers=routers,
)
