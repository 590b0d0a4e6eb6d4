"""The production shape, proven with the pieces `make up` uses (no container runtime can pull images here): an API and
two workers serving different queues, each from its own data directory as separate hosts would run them, with one
shared directory for the files every replica reads; Temporal in a namespace of its own whose retention is seconds;
PostgreSQL over TCP with a password; every key and secret given, none generated. A job of each application runs on
its kind's worker, retention passes, and every closed job is read back from the API."""

import asyncio
import random
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from devstack import processes as ps
from devstack.clients import Api, Emulator, OneCEmulator, eventually, expected_in_max, in_max
from devstack.postgres_tcp import TcpPostgres, start_tcp_postgres
from devstack.stack import ADMIN_PASSWORD, PAYLOAD_KEYS, Stack, start_stack
from runtime.queues import QueueKind, queue_name
from runtime.temporal import connect
from settings import Settings
from tests.support.crossposting import FAST_MAX, FAST_MAX_EMULATOR, export_of, make_link, unique
from tests.support.news import discover, make_sources
from tests.support.retention import gone_from_temporal
from tests.support.tracker import HEADERS, SECRET, ensure_extractor, update
from tests.support.webbuddy import new_query, wait_query

NAMESPACE = "longrun-production"
RETENTION = "6s"
QUEUE = "longrun-prod"
# Everything a deployment must hand every process, and nothing generated: a process that lacked one would refuse to
# start (LONGRUN_GENERATE_SECRETS=false, as compose sets it).
KEYS = {
    "LONGRUN_GENERATE_SECRETS": "false",
    "LONGRUN_PAYLOAD_KEYS": PAYLOAD_KEYS,
    "LONGRUN_JWT_SECRET": "production-shape-jwt-secret-" + "j" * 32,
    "LONGRUN_CODEC_UI_KEY": "production-shape-codec-key-" + "c" * 16,
    "LONGRUN_TELEGRAM_WEBHOOK_SECRET": SECRET,
}
# What each worker serves: the webhook chain, WebBuddy, news and LLM work on one; crossposting and 1C on the other.
FRONT, BULK = "interactive,llm", "bulk"

pytestmark = pytest.mark.timeout(600)


class Production:
    def __init__(self, stack: Stack, pg: TcpPostgres, root: Path) -> None:
        self.stack, self.pg, self.root = stack, pg, root
        self.shared = root / "shared"
        self.pids: dict[str, int] = {}
        self.api_url = ""

    def env(self, host: str, **extra: str) -> dict[str, str]:
        """A process as its own host runs it: its own data directory, the shared one, the database over TCP."""
        return {
            "LONGRUN_DATA_DIR": str(self.root / host),
            "LONGRUN_SHARED_DIR": str(self.shared),
            "LONGRUN_DATABASE_URL": self.pg.database_url,
            "LONGRUN_TEMPORAL_NAMESPACE": NAMESPACE,
            **KEYS,
            **FAST_MAX,
            **extra,
        }


@pytest.fixture(scope="module")
def production() -> Production:
    root = Path(tempfile.mkdtemp(prefix="longrun-production-"))
    root.chmod(0o755)
    stack = start_stack(root / "stack", namespace=NAMESPACE, retention=RETENTION)
    pg = start_tcp_postgres(root / "pg")
    prod = Production(stack, pg, root)
    try:
        setup = stack.env(QUEUE, **prod.env("setup"))
        ps.run_python("migrate-production", ["-m", "db.migrate"], setup, stack.logs, timeout=120)
        ps.run_python("bootstrap-production", ["-m", "devstack.bootstrap"], setup, stack.logs, timeout=120)
        for host, kinds in (("worker-front", FRONT), ("worker-bulk", BULK)):
            worker = stack.start_worker(host, QUEUE, env=prod.env(host, LONGRUN_WORKER_QUEUES=kinds))
            prod.pids[host] = worker.pid
        prod.api_url = stack.start_api("api-production", QUEUE, env=prod.env("api"))
        yield prod
    finally:
        stack.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
async def temporal(production: Production) -> Client:
    return await connect(
        Settings.without_env_file(
            temporal_address=production.stack.temporal_address, temporal_namespace=NAMESPACE, temporal_envconfig=False
        )
    )


@pytest.fixture(scope="module")
async def boss(production: Production) -> Api:
    api = await Api.login(production.api_url, "admin", ADMIN_PASSWORD)
    yield api
    await api.close()


@pytest.fixture(scope="module")
async def database(production: Production):
    engine = production.stack.database(production.pg.database_url)
    yield engine
    await engine.dispose()


async def where_it_ran(client: Client, job_id: str) -> tuple[str, set[str]]:
    """The task queue a job ran on, and the identities (pid@host) of the workers that ran its workflow tasks and
    activities (local activities run inside the workflow task's worker)."""
    handle = client.get_workflow_handle(job_id)
    queue = (await handle.describe()).raw_description.execution_config.task_queue.name
    workers = set()
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            workers.add(event.workflow_task_started_event_attributes.identity)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            workers.add(event.activity_task_started_event_attributes.identity)
    return queue, workers


async def a_job_of_each_application(prod: Production, boss: Api, database) -> dict[str, str]:
    """Starts one job of each application through the API and answers {application: job id} once all are closed."""
    stack = prod.stack
    onec, max_emulator = OneCEmulator(stack.onec_url), Emulator(stack.max_url)
    await onec.reset()
    await onec.book(seed=5, documents=30, contractors=20, folders=2, pending_contractors=0)
    await max_emulator.control("POST", "/_emulator/max/config", **FAST_MAX_EMULATOR)
    await ensure_extractor(database)
    jobs: dict[str, str] = {}

    jobs["news"] = await discover(boss, await make_sources(boss, stack, 1, items=4))

    project = (await boss.ok("POST", "/api/projects/", 201, json={"name": "production shape"}))["id"]
    query = await new_query(boss, project)
    jobs["webbuddy"] = f"webbuddy-query-{query['id']}"

    # The export lands in the shared directory; the bulk worker, with a data directory of its own, reads it there.
    chat, max_chat = "gen_40_s21", 8_000 + unique()
    export = export_of(chat, prod.shared / "exports")
    link = await make_link(boss, chat=chat, max_chat=max_chat, token=f"bot-{unique()}", export_path=export)
    jobs["crossposting"] = (await boss.ok("POST", "/api/v1/migrations", 202, json={"link_id": link["id"]}))["job_id"]

    jobs["1c"] = (await boss.ok("POST", "/api/v1/sync-1c/contractors/sync-async", 202))["task_id"]

    # The tracker: a chat's messages through the webhook chain, then its knowledge extracted by hand.
    tracker_chat = -random.randrange(10**9, 10**12)
    async with httpx.AsyncClient(base_url=prod.api_url, timeout=30) as http:
        for n in range(3):
            body = update(random.randrange(10**9), tracker_chat, 100 + n, 4242, f"invoice export {n}")
            answered = await http.post("/webhook/telegram", json=body, headers=HEADERS)
            assert answered.status_code == 200, answered.text

    async def stored() -> bool:
        async with database.connect() as conn:
            count = await conn.scalar(
                text("SELECT count(*) FROM message WHERE telegram_chat_id = :c"),
                {"c": tracker_chat},
            )
        return count == 3

    await eventually(stored, "the webhook's messages stored by the inbox drainer", within=60)
    extraction = await boss.ok("POST", "/api/v1/extraction", 202, json={"telegram_chat_id": tracker_chat})
    jobs["tracker"] = extraction["job_id"]

    for application, job_id in jobs.items():
        closed = await boss.wait_job(job_id, within=240)
        assert closed["status"] == "completed", (application, closed)
    assert (await wait_query(boss, query["id"]))["status"] == "done"
    assert await in_max(max_emulator, max_chat) == await expected_in_max(stack.telegram_url, chat)
    return jobs


async def test_each_application_runs_on_its_kinds_worker_and_is_read_back_after_retention(
    production: Production, temporal: Client, boss: Api, database
):
    jobs = await a_job_of_each_application(production, boss, database)
    closed = {job_id: await boss.job(job_id) for job_id in jobs.values()}

    # Each on its kind's queue, its activities run by the worker that serves that kind.
    kinds = {"news": "interactive", "webbuddy": "interactive", "crossposting": "bulk", "1c": "bulk", "tracker": "llm"}
    front, bulk = production.pids["worker-front"], production.pids["worker-bulk"]
    for application, job_id in jobs.items():
        queue, workers = await where_it_ran(temporal, job_id)
        assert queue == queue_name(QUEUE, QueueKind(kinds[application])), application
        expected = bulk if kinds[application] == "bulk" else front
        assert workers and {identity.split("@")[0] for identity in workers} == {str(expected)}, (application, workers)

    async def retention_passed() -> bool:
        return all(await asyncio.gather(*(gone_from_temporal(temporal, j) for j in jobs.values())))

    await eventually(retention_passed, "Temporal to drop the closed jobs", within=120, interval=0.5)

    shown = ("job_id", "type", "owner", "status", "total", "processed", "succeeded", "skipped", "failed", "result")
    for job_id, before in closed.items():
        after = await boss.job(job_id)
        assert {k: after[k] for k in shown} == {k: before[k] for k in shown}, job_id
    listed = {j["job_id"] for j in (await boss.ok("GET", "/api/v1/jobs", params={"limit": 100}))["jobs"]}
    assert set(jobs.values()) <= listed
    task = await boss.ok("GET", f"/api/v1/tasks/{jobs['1c']}")
    assert (task["status"], task["result"]) == ("completed", closed[jobs["1c"]]["result"])


def test_a_worker_without_the_shared_keys_refuses_to_start(production: Production):
    """Outside the embedded stack a missing key is never generated: a worker that would encrypt with its own key (and
    leave every other process unable to read its payloads) stops at start, naming the variable."""
    env = production.stack.env(QUEUE, **production.env("worker-keyless"))
    env.pop("LONGRUN_PAYLOAD_KEYS")
    worker = ps.start_python("worker-keyless", ["worker.py"], env, production.stack.logs)
    try:
        code = worker.wait(60)
    finally:
        worker.stop()
    assert code != 0
    assert "LONGRUN_PAYLOAD_KEYS" in worker.log_path.read_text()
    assert not (production.root / "worker-keyless" / "payload_keys").exists()
