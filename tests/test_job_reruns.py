"""`POST /api/v1/jobs/{id}/rerun`: a closed job started again with the input it was started with, owned by whoever
asks (who must be allowed to start that job type); an open job, a service, or a type whose input is a record of its
own is refused saying why."""

import pytest

from api.job_reruns import NOT_RERUN, CannotRerun, rerun_request
from api.job_runs import started_with
from db.models import Role
from tests.support.news import discover, make_sources
from workflows.onec import CONTRACTORS_JOB, CONTRACTORS_JOB_ID


async def recorded_input(temporal, job_id: str) -> dict:
    run = temporal.get_workflow_handle(job_id, run_id=(await temporal.get_workflow_handle(job_id).describe()).run_id)
    return (await started_with(temporal, run))[0]


async def test_a_news_discovery_reruns_over_the_same_sources_for_whoever_asks(stack, admin, make_user, temporal):
    user, other = await make_user("user"), await make_user("user")
    sources = await make_sources(admin, stack, 2, items=2)
    first = await discover(user, sources, max_parallel=2)
    running = await user.http.post(f"/api/v1/jobs/{first}/rerun")
    done = await user.wait_job(first)
    assert done["status"] == "completed"
    if running.status_code != 202:  # it may have closed before the request: then it was a rerun, waited below
        assert running.status_code == 409 and "still open" in running.json()["detail"]

    rerun = await user.ok("POST", f"/api/v1/jobs/{first}/rerun", 202)
    assert rerun["rerun_of"] == first and rerun["job_id"] != first and rerun["joined"] is False
    again = await user.wait_job(rerun["job_id"])
    assert (again["type"], again["owner"], again["status"]) == ("news_discovery", user.username, "completed")
    assert again["result"]["sources_processed"] == done["result"]["sources_processed"] == 2
    assert await recorded_input(temporal, rerun["job_id"]) == await recorded_input(temporal, first)

    assert (await other.http.post(f"/api/v1/jobs/{first}/rerun")).status_code == 404  # not theirs to see
    by_admin = await admin.ok("POST", f"/api/v1/jobs/{first}/rerun", 202)
    assert (await admin.wait_job(by_admin["job_id"]))["owner"] == "admin"
    assert (await user.http.post("/api/v1/jobs/no-such-job/rerun")).status_code == 404


async def test_a_contractors_sync_reruns_for_an_editor(stack, onec, make_user, temporal):
    await onec.book(seed=23, documents=5, contractors=12)
    manager = await make_user("manager")
    job_id = (await manager.ok("POST", "/api/v1/sync-1c/contractors/sync-async", 202))["task_id"]
    first = await manager.wait_job(job_id, within=120)
    assert first["status"] == "completed"
    first_run = (await temporal.get_workflow_handle(job_id).describe()).run_id

    rerun = await manager.ok("POST", f"/api/v1/jobs/{job_id}/rerun", 202)
    # The sync's id is its natural key: the rerun is that id's next run.
    assert (rerun["job_id"], rerun["rerun_of"]) == (CONTRACTORS_JOB_ID, job_id)
    again = await manager.wait_job(job_id, within=120)
    assert (again["type"], again["owner"], again["status"]) == (CONTRACTORS_JOB, manager.username, "completed")
    assert (await temporal.get_workflow_handle(job_id).describe()).run_id != first_run


def test_who_may_rerun_what_and_why_not():
    assert rerun_request("news_discovery", {"sources": [{"id": 1, "name": "a"}]}, Role.user, "u").owner == "u"
    with pytest.raises(CannotRerun) as refused:
        rerun_request(CONTRACTORS_JOB, {}, Role.user, "u")
    assert refused.value.forbidden and "admin, manager" in str(refused.value)
    with pytest.raises(CannotRerun) as service:
        rerun_request("tracker_inbox", {}, Role.admin, "a")
    assert not service.value.forbidden and "service" in str(service.value)
    for job_type, why in NOT_RERUN.items():
        with pytest.raises(CannotRerun, match=why[:20]):
            rerun_request(job_type, {}, Role.admin, "a")
    with pytest.raises(CannotRerun, match="no longer fits"):
        rerun_request("news_discovery", {"sources": "not a list"}, Role.admin, "a")
    # A migration's carried cursor and progress stay behind: the rerun starts at the beginning.
    carried = {"scope": {"link_id": 7}, "cursor": {"after_id": 99}, "carried": {"processed": 5}}
    fresh = rerun_request("channel_migration", carried, Role.manager, "m").arg
    assert (fresh.carried, fresh.cursor.after_id, fresh.scope.link_id) == (None, 0, 7)
