"""Temporal down while queries are created: the API still answers 201 and the rows wait, queued;
once Temporal is back, the reconcile schedule starts their workflows and every query is answered."""

from sqlalchemy import text

from devstack import processes as ps
from devstack.clients import Api, eventually
from devstack.stack import ADMIN_PASSWORD
from tests.support.deployment import isolated
from tests.support.webbuddy import FAST_RECONCILE, wait_query

QUEUE = "webbuddy-outage"


async def test_queries_created_during_outage_are_done_through_the_schedule(stack, make_user):
    # Its own database and Temporal: no other deployment's sweep can answer these queries.
    async with isolated(stack, "webbuddy_outage") as own:
        env = {**own.env, **FAST_RECONCILE}
        admin = None
        try:
            ps.run_python(
                "bootstrap-outage", ["-m", "devstack.bootstrap"], stack.env(QUEUE, **env), stack.logs, timeout=60
            )
            url = stack.start_api("api-outage", task_queue=QUEUE, **env)
            worker = stack.start_worker("worker-outage", task_queue=QUEUE, **env)
            admin = await Api.login(url, "admin", ADMIN_PASSWORD)
            project = (await admin.ok("POST", "/api/projects/", 201, json={"name": "outage"}))["id"]
            own.stop_temporal()

            ids = []
            for n in range(5):
                body = {"project": project, "query_text": f"q{n}"}
                created = await admin.ok("POST", "/api/queries/", 201, json=body)
                assert created["status"] == "queued"
                ids.append(created["id"])
            assert (await admin.http.get("/api/v1/jobs")).status_code == 503
            async with own.database.connect() as conn:
                statuses = await conn.scalars(text("select status from query where id = any(:ids)"), {"ids": ids})
                assert set(statuses) == {"queued"}

            own.start_temporal()
            if not worker.alive:  # a worker that gave up during the outage is replaced, as `make worker` would
                worker = stack.start_worker("worker-outage-2", task_queue=QUEUE, **env)

            for query_id in ids:
                done = await wait_query(admin, query_id, within=90)
                assert done["status"] == "done" and done["answer_text"]
                job = await eventually(
                    lambda q=query_id: _job(admin, q), f"the workflow of query {query_id}", within=30
                )
                assert job["result"]["outcome"] == "done"
        finally:
            if admin is not None:
                await admin.close()
            stack.stop_named("api-outage", "worker-outage", "worker-outage-2")


async def _job(api: Api, query_id: int):
    response = await api.http.get(f"/api/v1/jobs/webbuddy-query-{query_id}")
    return response.json() if response.status_code == 200 and response.json()["status"] == "completed" else None
