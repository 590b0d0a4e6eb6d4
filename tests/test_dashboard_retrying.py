"""The dashboard says when a job's step is being retried, with the outside service's error set as text."""

import pytest

from tests.dashboard_js import Js, elements, literal, texts
from tests.test_dashboard import MARKUP, WEB

JOB = {
    "job_id": "onec-sync-contractors", "type": "sync_contractors", "owner": "manager1", "status": "pending",
    "percent": 0, "_snapshot": True, "processed": 0, "total": 0, "succeeded": 0, "skipped": 0, "failed": 0,
    "message": "", "errors": [], "started_at": "2025-05-01T10:00:00Z",
}  # fmt: skip


@pytest.fixture
def render():
    js = Js()
    js.load(WEB / "static" / "render.js")
    yield js
    js.close()


def test_a_retrying_step_shows_its_attempt_since_and_error_as_text(render: Js):
    retrying = {"step": "onec.count", "attempt": 3, "since": "2025-05-01T10:00:05Z", "last_error": MARKUP[0]}
    row = render.tree(f"jobRow({literal({**JOB, 'retrying': retrying})})")
    line = "".join(texts(row))
    assert "retrying onec.count (attempt 3, since " in line and f"): {MARKUP[0]}" in line
    assert {el["tag"] for el in elements(row)} <= {"article", "div", "span", "b", "button", "time"}
    [since] = [
        el for el in elements(row) if el["tag"] == "time" and el["attributes"].get("datetime") == retrying["since"]
    ]
    assert since

    calm = "".join(texts(render.tree(f"jobRow({literal({**JOB, 'retrying': None})})")))
    assert "retrying" not in calm
