"""A worker killed with SIGKILL mid-run: its replacement finishes the job, nothing lost, nothing twice."""

from sqlalchemy import text

from devstack.clients import Api, eventually
from tests.support.news import NEWS_PER_FEED, discover, make_sources

QUEUE = "crash-news"


async def test_kill_9_worker_mid_discovery(stack, admin, llm, database):
    # Its own task queue, API and workers, so the session's worker can't quietly pick the job up.
    api = Api(stack.start_api("api-crash", task_queue=QUEUE), admin.token)
    first = stack.start_worker("worker-crash-1", task_queue=QUEUE)
    replacement = None
    try:
        sources = await make_sources(admin, stack, 6)
        await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=400)
        job_id = await discover(api, sources, max_parallel=2)

        async def partly_done():
            snap = await api.job(job_id)
            return snap if 1 <= snap["processed"] < 6 else None

        before = await eventually(partly_done, "some but not all sources processed", within=60)
        first.kill9()
        replacement = stack.start_worker("worker-crash-2", task_queue=QUEUE)

        snap = await api.wait_job(job_id, within=120)
        assert snap["status"] == "completed"
        assert snap["processed"] >= before["processed"]
        assert (snap["total"], snap["processed"], snap["succeeded"], snap["failed"]) == (6, 6, 6, 0)
        assert snap["result"]["drafts_created"] == NEWS_PER_FEED * 6

        async with database.connect() as conn:
            rows, distinct = (
                await conn.execute(
                    text("select count(*), count(distinct (source_id, url)) from news_post where run_id = :r"),
                    {"r": job_id},
                )
            ).one()
        assert rows == distinct == NEWS_PER_FEED * 6

        # The finished job is answered from its result even with no worker left at all.
        replacement.stop()
        after = await api.job(job_id)
        assert (after["status"], after["result"]["drafts_created"]) == ("completed", NEWS_PER_FEED * 6)
    finally:
        await api.close()
        for proc in (first, replacement):
            if proc is not None:
                proc.stop()
