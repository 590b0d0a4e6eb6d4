"""kill -9 of the worker while a query is being answered: the replacement finishes it, answered once."""

import os

from devstack.clients import Api, eventually
from tests.support.histories import record
from tests.support.webbuddy import logs_by_stage, new_query, wait_query

QUEUE = "webbuddy-crash"


async def test_kill_9_mid_answer(stack, admin, make_user, llm, database, temporal):
    url = stack.start_api("api-wb-crash", task_queue=QUEUE)
    first = stack.start_worker("worker-wb-crash-1", task_queue=QUEUE)
    owner = Api(url, (await make_user("user")).token)
    try:
        project = (await owner.ok("POST", "/api/projects/", 201, json={"name": "crash"}))["id"]
        await llm.fault(path="/v1/chat/completions", kind="latency", latency_ms=2500, times=1)
        created = await new_query(owner, project, "survive a crash")

        async def asking():
            return await llm.requests("/v1/chat/completions") == 1

        await eventually(asking, "the LLM call to be in flight", within=30)
        first.kill9()
        stack.start_worker("worker-wb-crash-2", task_queue=QUEUE)

        done = await wait_query(owner, created["id"], within=90)
        assert done["status"] == "done" and "survive" in done["answer_text"].lower()
        assert await logs_by_stage(database, created["id"]) == {"claimed": 1, "answering": 1, "done": 1}
        # The killed attempt's call plus the replacement's: the answer was saved once, by the second.
        assert await llm.requests("/v1/chat/completions") == 2
        if os.environ.get("LONGRUN_RECORD_HISTORIES"):
            await record(temporal, f"webbuddy-query-{created['id']}", "ProcessQuery-after-crash")
    finally:
        await owner.close()
        stack.stop_named("api-wb-crash", "worker-wb-crash-1", "worker-wb-crash-2")
