"""Recorded histories of released workflows must replay on today's code: a change that would break
running jobs fails here, not in production. Record a new one with LONGRUN_RECORD_HISTORIES=1."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
RECORDED = sorted(HISTORIES.glob("*.json"))


def test_every_workflow_has_a_recorded_history():
    recorded_types = {p.stem.rsplit("-", 1)[0] for p in RECORDED}
    assert {w.__temporal_workflow_definition.name for w in WORKFLOWS} <= recorded_types


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


async def record(client, job_id: str, name: str) -> None:
    """Keep a finished job's history as `tests/histories/<workflow type>-<name>.json`."""
    history = await client.get_workflow_handle(job_id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path):
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(load(path))
