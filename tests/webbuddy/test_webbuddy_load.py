"""200 queries while two Longrun workers and two old-style claim_next pollers run side by side:
every query is claimed once, answered once, logged once."""

import asyncio
import re

from sqlalchemy import text

from devstack import processes as ps
from devstack.clients import Api, eventually

QUEUE = "webbuddy-load"
QUERIES = 200


async def test_200_queries_each_done_exactly_once(stack, admin, make_user, llm, database):
    url = stack.start_api("api-wb-load", task_queue=QUEUE)
    for i in (1, 2):
        stack.start_worker(f"worker-wb-load-{i}", task_queue=QUEUE)
    poller_user = await make_user("worker")
    pollers = [
        ps.start_python(
            f"poller-{i}",
            [
                "examples/webbuddy_worker.py",
                "--url",
                url,
                "--username",
                poller_user.username,
                "--password",
                "password-1",
                "--interval",
                "0.2",
            ],
            stack.env(QUEUE),
            stack.logs,
        )  # fmt: skip
        for i in (1, 2)
    ]
    author = await make_user("user")
    owner = Api(url, author.token)
    project = (await owner.ok("POST", "/api/projects/", 201, json={"name": "load"}))["id"]
    try:
        limit = asyncio.Semaphore(8)

        async def create(n: int) -> int:
            async with limit:
                body = {"project": project, "query_text": f"query number {n}"}
                return (await owner.ok("POST", "/api/queries/", 201, json=body))["id"]

        ids = await asyncio.gather(*(create(n) for n in range(QUERIES)))

        async def all_done():
            async with database.connect() as conn:
                done = await conn.scalar(
                    text("select count(*) from query where id = any(:ids) and status = 'done'"), {"ids": ids}
                )
            return done == QUERIES

        await eventually(all_done, f"all {QUERIES} queries done", within=240, interval=0.5)
    finally:
        for poller in pollers:
            poller.stop()
        await owner.close()
        stack.stop_named("api-wb-load", "worker-wb-load-1", "worker-wb-load-2")

    claimed_by_pollers = [int(n) for p in pollers for n in re.findall(r"claimed query (\d+)", p.log_path.read_text())]
    assert len(claimed_by_pollers) == len(set(claimed_by_pollers)), "a query was claimed twice by pollers"

    async with database.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "select q.id, q.claimed_by, q.answer_text,"
                    " (select count(*) from query_log l where l.query_id = q.id) as logs,"
                    " (select count(*) from query_log l where l.query_id = q.id and l.stage is not null) as stage_logs"
                    " from query q where q.id = any(:ids)"
                ),
                {"ids": ids},
            )
        ).all()
    external = {r.id for r in rows if r.claimed_by == "external"}
    by_workflow = {r.id for r in rows if r.claimed_by.startswith("workflow:")}
    assert external == set(claimed_by_pollers)
    # Successful claims: one per query, by exactly one claimer.
    assert len(external) + len(by_workflow) == QUERIES and not external & by_workflow
    assert all(r.answer_text for r in rows)
    # Answered once: pollers log twice with no stage; workflows write their three stage logs once.
    assert all((r.logs, r.stage_logs) == (2, 0) for r in rows if r.id in external)
    assert all((r.logs, r.stage_logs) == (3, 3) for r in rows if r.id in by_workflow)
    assert await llm.requests("/v1/chat/completions") == len(by_workflow)
