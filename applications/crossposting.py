"""Telegram → MAX crossposting: a channel's history copied into MAX, each post once (docs/crossposting.md)."""

from typing import TYPE_CHECKING

from applications.application import Application
from workflows.crossposting import MigrateChannelWorkflow

if TYPE_CHECKING:
    from worker import Dependencies


def activities(deps: "Dependencies") -> list:
    # Imported here: only the worker builds steps, and the API reads this module for its routers.
    from activities.crossposting import CrosspostingActivities, channel_sources

    steps = CrosspostingActivities(
        deps.sessions,
        channel_sources(deps.settings),
        deps.max,
        deps.settings.media_dir,
        deps.settings.crossposting_prepare_ahead,
    )
    return [steps.survey, steps.read_page, steps.publish_page, steps.tally]


def routers() -> list:
    from api.routes import crossposting  # imported here: the worker reads this module for its workflows

    return [crossposting.router]


APPLICATION = Application(
    name="crossposting", workflows=(MigrateChannelWorkflow,), activities=activities, routers=routers
)
