"""News discovery: feeds read in parallel, the LLM picks each source's news (docs/news.md)."""

from typing import TYPE_CHECKING

from applications.application import Application
from workflows.news import NewsDiscoveryWorkflow

if TYPE_CHECKING:
    from worker import Dependencies


def activities(deps: "Dependencies") -> list:
    # Imported here: only the worker builds steps, and the API reads this module for its routers.
    from activities.news import NewsActivities
    from clients.feeds import FeedClient

    steps = NewsActivities(deps.sessions, FeedClient(deps.http), deps.llm)
    return [steps.discover_source, steps.record_source_run]


def routers() -> list:
    from api.routes import news  # imported here: the worker reads this module for its workflows

    return [news.router]


APPLICATION = Application(name="news", workflows=(NewsDiscoveryWorkflow,), activities=activities, routers=routers)
