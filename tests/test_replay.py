"""Recorded histories of released workflows must replay on today's code: a change that would break
running jobs fails here, not in production. Record a new one with LONGRUN_RECORD_HISTORIES=1."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from devstack.stack import PAYLOAD_KEYS
from runtime.payload_codec import data_converter
from settings import Settings
from tests.support.histories import HISTORIES
from worker import WORKFLOWS
from workflows.job_records import JobRecordInterceptor

RECORDED = sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def workflow_type(history: WorkflowHistory) -> str:
    """What the history itself says it ran: file names are for people (`NewsDiscovery-failed-source`)."""
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name


def test_every_workflow_has_a_recorded_history():
    recorded_types = {workflow_type(load(p)) for p in RECORDED}
    assert {w.__temporal_workflow_definition.name for w in WORKFLOWS} <= recorded_types


def test_file_names_start_with_the_recorded_workflow_type():
    for path in RECORDED:
        assert path.stem.startswith(workflow_type(load(path)) + "-"), path.name


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path):
    # Histories recorded since payloads are encrypted need the stack's key; older ones are read as they are.
    converter = data_converter(Settings(payload_keys=PAYLOAD_KEYS, _env_file=None))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=converter, interceptors=[JobRecordInterceptor()])
    await replayer.replay_workflow(load(path))
