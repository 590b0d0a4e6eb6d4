"""One registration point: every activity and workflow the code defines is what `applications/` registers, once,
under its name, and the API's routes are matched in the order the webhook needs. Pure: nothing is started."""

import importlib
from collections import Counter
from pathlib import Path

from temporalio import activity, workflow

import worker
from api.app import ROUTERS
from api.routes import tracker_webhook
from settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _modules(folder: str) -> list:
    return [importlib.import_module(f"{folder}.{p.stem}") for p in sorted((ROOT / folder).glob("*.py"))]


def _defined_activities() -> list[str]:
    return [
        defn.name
        for module in _modules("activities")
        for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == module.__name__
        for member in vars(cls).values()
        if (defn := activity._Definition.from_callable(member))
    ]


def _defined_workflows() -> list[str]:
    return [
        defn.name
        for module in _modules("workflows")
        for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == module.__name__
        if (defn := workflow._Definition.from_class(cls))
    ]


async def test_the_worker_registers_every_activity_and_workflow_once(tmp_path):
    # A step defined and left out of its application would only show as a job waiting for ever on the real stack.
    deps = worker.Dependencies(Settings(data_dir=tmp_path, _env_file=None), client=None)
    try:
        registered = [activity._Definition.must_from_callable(step).name for step in deps.activities()]
    finally:
        await deps.close()
    # Counted, so that a step or a workflow registered twice shows too.
    assert Counter(registered) == Counter(_defined_activities())
    assert Counter(workflow._Definition.must_from_class(w).name for w in worker.WORKFLOWS) == Counter(
        _defined_workflows()
    )


def test_telegram_webhook_is_matched_before_every_other_route():
    assert ROUTERS[0] is tracker_webhook.router
