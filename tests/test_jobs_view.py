"""The list a person opens in the Temporal Web UI (the dashboard's link, `make up`'s summary) shows jobs and not the
housekeeping sweeps, which keep running: a sweep's runs carry no JobType, every job carries one."""

from devstack.clients import eventually
from tests.support.news import discover, make_sources

JOBS = "JobType IS NOT NULL"
SWEEPS = ("ReconcileQueries", "ReconcileTrackerInbox")


async def test_the_jobs_list_leaves_out_the_sweeps_that_still_run(stack, admin, temporal):
    async def swept() -> bool:
        query = " OR ".join(f"WorkflowType = '{name}'" for name in SWEEPS)
        return (await temporal.count_workflows(query)).count > 0

    await eventually(swept, "a reconcile sweep to have run (every 30 s)", within=90, interval=1)
    job_id = await discover(admin, await make_sources(admin, stack, 1, items=2))
    await admin.wait_job(job_id)

    async def listed() -> list:
        executions = [execution async for execution in temporal.list_workflows(JOBS)]
        return executions if job_id in {execution.id for execution in executions} else []

    executions = await eventually(listed, "the job in the list (visibility catches up)", within=30)
    assert not {execution.workflow_type for execution in executions} & set(SWEEPS)
