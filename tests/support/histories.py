"""The recorded histories tests/test_replay.py replays, and how a test keeps a finished job's history there."""

from pathlib import Path

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


async def record(client, job_id: str, name: str) -> None:
    """Keep a finished job's history as `tests/histories/<workflow type>-<name>.json`."""
    history = await client.get_workflow_handle(job_id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(history.to_json())
