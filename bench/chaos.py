"""Chaos: every domain's work at once while the stack is shot at, then a count of what was lost or done twice.

For --window seconds a person's work arrives through the API, and Telegram's through the webhook:
- news: a discovery of 3 new feed sources of 60 entries each, every tenth of the window;
- WebBuddy: a query every 0.5 s;
- migration: a channel of --posts posts (the stand-in's `bench_<n>` mix of texts, photos and albums) at the start,
  a second one halfway, at MAX's real 30 requests/s per bot token;
- 1C: the contractors sync, then the bank sync of the book's year, again and again;
- tracker: 5 group messages a second, delivered to the webhook by the Bot API emulator (which redelivers on an error,
  as Telegram does).

Meanwhile a driver `kill -9`s the worker --kills times (a replacement started at once), the Temporal dev server once
(kept in a file; started again on it) and Postgres once (started again on its data), spread over the window. From the
start, 20% of the requests to every emulator fail: 429 with Retry-After, a 5xx, or a dropped connection (MAX also
stores some messages and then drops the connection, so the client cannot tell; the Telegram stand-in answers
FLOOD_WAIT and RPC_CALL_FAIL as RPC errors).

Then the faults are lifted, every job is waited for, and each domain is checked against the database and the
emulators' own records: every job `completed` (Temporal's list of the domain's workflows, whoever started them);
items lost (a feed entry without its draft, a query not answered, a Telegram post missing from MAX, a 1C row
missing, a delivered message not saved and scored); duplicates (a draft, answer, MAX message, row or message more
than once). Retries are the activity attempts after the first in every history of the domain, plus the webhook's
redeliveries; "kills" counts the worker kills during which the domain had a workflow open.

`--seed` draws the run: the emulators' fault coins, the times of the shots, the 1C book. `--runs N` makes N runs in
a row, seeds `--seed` to `--seed + N - 1`, each on a fresh stack, and prints a table per seed. Every run is kept
under bench/results/chaos-runs/<time>-seed<N>/: summary.json (what `bench/results/chaos.json` says of the last run),
the emulators' fault logs (faults.json: which request, and so which item, each fault hit, and when) and every
process's log (logs/: the API, the workers, Temporal, the emulators), so that a miss can be explained afterwards.

    python -m bench chaos [--window 60] [--kills 5] [--posts 600] [--documents 2000] [--seed 1] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import tarfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from bench.common import RESULTS, bench_stack, print_targets, stack_client, table, write_results
from devstack import processes as ps
from devstack.clients import (
    Api,
    Emulator,
    OneCEmulator,
    Sent,
    TelegramBotEmulator,
    eventually,
    expected_in_max,
    in_max,
)
from devstack.stack import ADMIN_PASSWORD, Stack
from emulators.onec_book import CONTRACTORS
from settings import Settings

NAME = "chaos"
TASK_QUEUE = "bench-chaos"
WEBHOOK_SECRET = "chaos-webhook-secret"
TRACKER_CHAT = -1_009_000_000_001
FAULT_SHARE = 0.2
NEWS_ITEMS = 60
NEWS_PER_FEED = NEWS_ITEMS - len(range(3, NEWS_ITEMS, 4))  # the feed emulator marks every 4th entry not-news
ONEC_YEAR = {"date_from": "2024-01-01", "date_to": "2024-12-31"}  # the emulator's default book year
CLOSED = ("completed", "failed", "cancelled")
# Answers that mean "a part of the stack is down, ask again": the API says so with 502/503 and Retry-After.
OUTAGE = (502, 503, 504)
DOMAINS = {
    "news": ("NewsDiscovery",),
    "webbuddy": ("ProcessQuery",),
    "migration": ("MigrateChannel",),
    "1c": ("SyncContractors", "SyncBankTransactions"),
    "tracker": ("TrackerInbox", "ScoreUnscoredMessages", "ExtractKnowledge"),
}
# Sweeps that run on a schedule whatever the workload: a failed one is retried by the next, so reported, not a job.
HOUSEKEEPING = ("ReconcileQueries", "ReconcileTrackerInbox")
# Runs for as long as the service does (continuing as new): running at the end is its health, not an open job.
LONG_LIVED = ("TrackerInbox",)


def fault_rules(kinds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each rule draws its own coin in turn, so `FAULT_SHARE` of requests fail when each takes an equal part."""
    probability = 1 - (1 - FAULT_SHARE) ** (1 / len(kinds))
    return [{**kind, "probability": round(probability, 4)} for kind in kinds]


HTTP_FAULTS = [
    {"kind": "status", "status": 429, "retry_after": 0.5},
    {"kind": "status", "status": 503},
    {"kind": "drop"},
]
FAULTS = {
    "openai": fault_rules([*HTTP_FAULTS[:1], {"kind": "status", "status": 500}, HTTP_FAULTS[2]]),
    "feeds": fault_rules(HTTP_FAULTS),
    "onec": fault_rules(HTTP_FAULTS),
    "telegram_bot": fault_rules(HTTP_FAULTS),
    "max": fault_rules([*HTTP_FAULTS, {"kind": "drop_after"}]),
    "telegram": fault_rules([
        {"kind": "rpc_error", "status": 420, "error_message": "FLOOD_WAIT_1"},
        {"kind": "rpc_error", "status": 500, "error_message": "RPC_CALL_FAIL"},
        {"kind": "drop"},
    ]),
}  # fmt: skip


# --------------------------------------------------------------------------- riding out outages


class Caller:
    """The admin's API client, asking again while a part of the stack is down (502/503/504, a broken connection).

    Any other unexpected answer is a failure of the run: the API must not answer a 500 for an outage.
    """

    def __init__(self, api: Api) -> None:
        self.api = api
        self.asked_again = 0

    async def call(self, method: str, url: str, expect: int = 200, within: float = 180.0, **kwargs: Any) -> Any:
        deadline = time.monotonic() + within
        while True:
            try:
                response = await self.api.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                problem = repr(exc)
            else:
                if response.status_code == expect:
                    return response.json() if response.content else None
                if response.status_code not in OUTAGE:
                    raise AssertionError(f"{method} {url}: {response.status_code} {response.text}")
                problem = f"{response.status_code} {response.text[:200]}"
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {url} still failing after {within:g}s: {problem}")
            self.asked_again += 1
            await asyncio.sleep(0.5)

    async def wait_job(self, job_id: str, within: float) -> dict:
        async def closed() -> dict | None:
            job = await self.call("GET", f"/api/v1/jobs/{job_id}", within=within)
            return job if job["status"] in CLOSED else None

        return await eventually(closed, f"job {job_id} to close", within, interval=0.5)


# --------------------------------------------------------------------------- the driver


@dataclass
class Shot:
    what: str  # worker, temporal, postgres
    wall: float  # time.time() of the kill
    back_s: float  # until the replacement was up (the worker: polling its task queue)


@dataclass
class Chaos:
    stack: Stack
    worker: ps.Proc
    env: dict[str, str]
    shots: list[Shot] = field(default_factory=list)
    workers_started: int = 1

    async def kill_worker(self) -> None:
        wall, started = time.time(), time.monotonic()
        self.worker.kill9()
        self.stack.procs.remove(self.worker)
        self.workers_started += 1
        name = f"worker-{self.workers_started}"
        self.worker = await asyncio.to_thread(self.stack.start_worker, name, TASK_QUEUE, env=self.env)
        self.shots.append(Shot("worker", wall, time.monotonic() - started))

    async def crash_temporal(self) -> None:
        wall, started = time.time(), time.monotonic()
        await asyncio.to_thread(self.stack.crash_temporal)
        self.shots.append(Shot("temporal", wall, time.monotonic() - started))

    async def crash_postgres(self) -> None:
        wall, started = time.time(), time.monotonic()
        await asyncio.to_thread(self.stack.crash_postgres)
        self.shots.append(Shot("postgres", wall, time.monotonic() - started))

    def schedule(self, window: float, kills: int, seed: int = 0) -> list[tuple[float, Callable[[], Awaitable[None]]]]:
        """Worker kills evenly over the window; Temporal at a third, Postgres at two thirds, between kills. The seed
        moves each shot by up to an eighth of the kills' spacing, so runs differ in what each shot catches."""
        plan = [((i + 0.5) * window / kills, self.kill_worker) for i in range(kills)]
        plan += [(window / 3 + window / (4 * kills), self.crash_temporal)]
        plan += [(2 * window / 3 + window / (4 * kills), self.crash_postgres)]
        draw, spread = random.Random(seed), window / (8 * kills)
        plan = [(min(window, max(0.0, at + draw.uniform(-spread, spread))), shoot) for at, shoot in plan]
        return sorted(plan, key=lambda item: item[0])

    async def run(self, window: float, kills: int, seed: int = 0) -> None:
        started = time.monotonic()
        for at, shoot in self.schedule(window, kills, seed):
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            await shoot()
            shot, at = self.shots[-1], time.monotonic() - started
            print(f"  {at:5.1f}s  kill -9 {shot.what}: back after {shot.back_s:.1f}s", flush=True)


# --------------------------------------------------------------------------- the workload


@dataclass
class Workload:
    stack: Stack
    api: Caller
    engine: AsyncEngine
    args: argparse.Namespace
    api_url: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    jobs: dict[str, list[str]] = field(default_factory=lambda: {name: [] for name in DOMAINS})
    news_sources: list[int] = field(default_factory=list)
    project: int = 0
    queries: list[int] = field(default_factory=list)
    links: list[tuple[int, str, int]] = field(default_factory=list)  # link id, chat, MAX chat id
    expected_max: dict[str, list[Sent]] = field(default_factory=dict)
    delivered: list[int] = field(default_factory=list)  # telegram message ids
    onec_rounds: int = 0

    async def prepare(self) -> None:
        """What must exist before the faults: the project, the webhook, the 1C book, what MAX should end up holding."""
        self.project = (await self.api.call("POST", "/api/projects/", 201, json={"name": "chaos"}))["id"]
        bot = TelegramBotEmulator(self.stack.telegram_bot_url)
        token = Settings.without_env_file().telegram_bot_token.get_secret_value()
        await bot.set_webhook(token, f"{self.api_url}/webhook/telegram", secret_token=WEBHOOK_SECRET)
        # Telegram keeps redelivering for hours; the emulator's default gives up after 8 tries (~16 s).
        await bot.configure(max_attempts=1000, retry_max_seconds=2.0)
        await OneCEmulator(self.stack.onec_url).book(
            seed=self.args.seed, documents=self.args.documents, contractors=self.args.contractors,
            pending_contractors=0, page_latency_ms=20,
        )  # fmt: skip
        for chat in self.chats():
            self.expected_max[chat] = await expected_in_max(self.stack.telegram_url, chat)

    def chats(self) -> list[str]:
        return [f"bench_{self.args.posts}", f"bench_{self.args.posts + 1}"]

    async def feed(self) -> None:
        await asyncio.gather(self.news(), self.webbuddy(), self.migration(), self.onec(), self.tracker())

    async def every(self, seconds: float, step: Callable[[int], Awaitable[None]]) -> None:
        n = 0
        while not self.stop.is_set():
            await step(n)
            n += 1
            try:
                await asyncio.wait_for(self.stop.wait(), seconds)
            except TimeoutError:
                pass

    async def news(self) -> None:
        async def discovery(n: int) -> None:
            ids = []
            for i in range(3):
                body = {"name": f"Chaos {n}.{i}", "topic": "technology",
                        "feed_url": f"{self.stack.feeds_url}/feeds/chaos{n}x{i}.rss?items={NEWS_ITEMS}"}  # fmt: skip
                ids.append((await self.api.call("POST", "/api/v1/news/sources", 201, json=body))["id"])
            self.news_sources += ids
            answer = await self.api.call("POST", "/api/v1/news/discover", 202, json={"source_ids": ids})
            self.jobs["news"].append(answer["job_id"])

        await self.every(self.args.window / 10, discovery)

    async def webbuddy(self) -> None:
        async def query(n: int) -> None:
            body = {"project": self.project, "query_text": f"Проверить сценарий {n} под нагрузкой"}
            self.queries.append((await self.api.call("POST", "/api/queries/", 201, json=body))["id"])

        await self.every(0.5, query)

    async def migration(self) -> None:
        async def migrate(n: int) -> None:
            if n >= len(self.chats()):
                return
            chat = self.chats()[n]
            channel = await self.api.call("POST", "/api/v1/telegram-channels", 201, json={"title": chat, "chat": chat})
            max_chat = 70_000 + n
            body = {"title": chat, "chat_id": max_chat, "bot_token": f"chaos-{n}"}
            destination = await self.api.call("POST", "/api/v1/max-channels", 201, json=body)
            body = {"telegram_channel_id": channel["id"], "max_channel_id": destination["id"]}
            link = await self.api.call("POST", "/api/v1/links", 201, json=body)
            self.links.append((link["id"], chat, max_chat))
            answer = await self.api.call("POST", "/api/v1/migrations", 202, json={"link_id": link["id"]})
            self.jobs["migration"].append(answer["job_id"])

        await self.every(self.args.window / 2, migrate)

    async def onec(self) -> None:
        while not self.stop.is_set():
            for what, body in (("contractors", None), ("bank-transactions", ONEC_YEAR)):
                answer = await self.api.call("POST", f"/api/v1/sync-1c/{what}/sync-async", 202, json=body)
                self.jobs["1c"].append(answer["task_id"])
                await self.api.wait_job(answer["task_id"], within=600)
            self.onec_rounds += 1

    async def tracker(self) -> None:
        bot = TelegramBotEmulator(self.stack.telegram_bot_url)

        async def deliver(n: int) -> None:
            first = len(self.delivered) + 1
            updates = await bot.updates(5, chat_id=TRACKER_CHAT, seed=n, first_update_id=first, first_message_id=first)
            await bot.deliver(updates)
            self.delivered += [u["message"]["message_id"] for u in updates]

        await self.every(1.0, deliver)


# --------------------------------------------------------------------------- settling and checking


async def settle(work: Workload, within: float) -> None:
    """Every job closed, every query answered, every delivery taken and every delivered message scored."""
    deadline = time.monotonic() + within
    for ids in work.jobs.values():
        for job_id in ids:
            await work.api.wait_job(job_id, within=max(0.0, deadline - time.monotonic()))
    bot = TelegramBotEmulator(work.stack.telegram_bot_url)

    async def settled() -> bool:
        if (await bot.deliveries())["pending"]:
            return False
        # Every query of the project, including one whose creation answered an outage after it was stored.
        [left] = await rows(
            work.engine,
            "select (select count(*) from query where project_id = :p and status not in ('done', 'failed')) as queries,"
            " (select count(*) from message where telegram_chat_id = :c and importance_score is not null) as scored",
            p=work.project,
            c=TRACKER_CHAT,
        )
        return left.queries == 0 and left.scored >= len(work.delivered)

    what = "every query answered, every delivery taken, every delivered message scored"
    await eventually(settled, what, max(0.0, deadline - time.monotonic()), interval=0.5)


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(text(sql), params))


async def check_news(work: Workload) -> dict[str, Any]:
    found = await rows(
        work.engine,
        "select source_id, count(*) as n, count(distinct url) as urls from news_post"
        " where source_id = any(:ids) group by source_id",
        ids=work.news_sources,
    )
    by_source = {row.source_id: row for row in found}
    urls = sum(row.urls for row in found)
    missing = {s: NEWS_PER_FEED - (by_source[s].urls if s in by_source else 0) for s in work.news_sources}
    # Why, when something is missing: the sources each job reported failed.
    errors = []
    for job_id in work.jobs["news"]:
        errors += (await work.api.call("GET", f"/api/v1/jobs/{job_id}"))["errors"]
    return {
        "items": len(work.news_sources) * NEWS_PER_FEED,
        "lost": sum(max(0, n) for n in missing.values()),
        "duplicates": sum(row.n for row in found) - urls + max(0, urls - len(work.news_sources) * NEWS_PER_FEED),
        "missing_by_source": {s: n for s, n in missing.items() if n},
        "failed_sources": errors,
    }


async def check_webbuddy(work: Workload) -> dict[str, Any]:
    # Every query of the project, including one whose creation answered an outage after it was stored.
    found = await rows(
        work.engine,
        "select q.id, q.status, q.answer_text,"
        " (select count(*) from query_log l where l.query_id = q.id and l.stage = 'done') as done_logs"
        " from query q where q.project_id = :p",
        p=work.project,
    )
    return {
        "items": len(found),
        "lost": sum(1 for row in found if row.status != "done" or not row.answer_text),
        "duplicates": sum(max(0, row.done_logs - 1) for row in found),
    }


async def check_migration(work: Workload) -> dict[str, Any]:
    max_emulator = Emulator(work.stack.max_url)
    items = lost = duplicates = 0
    out_of_order = 0
    for _, chat, max_chat in work.links:
        expected = work.expected_max[chat]
        held = await in_max(max_emulator, max_chat)
        want, have = Counter(map(repr, expected)), Counter(map(repr, held))
        items += len(expected)
        lost += sum((want - have).values())
        duplicates += sum((have - want).values())
        out_of_order += held != expected and want == have
    return {"items": items, "lost": lost, "duplicates": duplicates, "out_of_order": out_of_order}


async def check_onec(work: Workload) -> dict[str, Any]:
    book = await OneCEmulator(work.stack.onec_url).counts()
    [counts] = await rows(
        work.engine,
        "select (select count(*) from contractor) as contractors,"
        " (select count(distinct ref_key) from contractor) as contractor_keys,"
        " (select count(*) from bank_transaction) as documents,"
        " (select count(distinct ref_key) from bank_transaction) as document_keys",
    )
    want_contractors = book[CONTRACTORS]  # folders included: the catalog's every row
    return {
        "items": want_contractors + book["documents"],
        "lost": max(0, want_contractors - counts.contractor_keys) + max(0, book["documents"] - counts.document_keys),
        "duplicates": (counts.contractors - counts.contractor_keys) + (counts.documents - counts.document_keys)
        + max(0, counts.contractor_keys - want_contractors) + max(0, counts.document_keys - book["documents"]),
        "rounds": work.onec_rounds,
    }  # fmt: skip


async def check_tracker(work: Workload) -> dict[str, Any]:
    found = await rows(
        work.engine,
        "select telegram_message_id, count(*) as n, count(importance_score) as scored from message"
        " where telegram_chat_id = :c group by telegram_message_id",
        c=TRACKER_CHAT,
    )
    by_id = {row.telegram_message_id: row for row in found}
    report = await TelegramBotEmulator(work.stack.telegram_bot_url).deliveries()
    return {
        "items": len(work.delivered),
        "lost": sum(1 for m in work.delivered if m not in by_id or not by_id[m].scored) + len(report["gave_up"]),
        "duplicates": sum(row.n - 1 for row in found) + len(set(by_id) - set(work.delivered)),
        "redeliveries": len(report["attempts"]) - len(work.delivered),
    }


CHECKS = {
    "news": check_news,
    "webbuddy": check_webbuddy,
    "migration": check_migration,
    "1c": check_onec,
    "tracker": check_tracker,
}


@dataclass
class Runs:
    """What Temporal holds for a domain: its workflows, their statuses, spans and retried activity attempts."""

    statuses: Counter[str] = field(default_factory=Counter)
    not_completed: list[str] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)
    retries: int = 0


async def temporal_runs(client: Client, types: tuple[str, ...]) -> Runs:
    runs = Runs()
    query = " or ".join(f"WorkflowType = '{name}'" for name in types)
    async for execution in client.list_workflows(query):
        status = execution.status.name if execution.status else "UNKNOWN"
        runs.statuses[status] += 1
        ended_well = execution.status in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.CONTINUED_AS_NEW)
        if execution.workflow_type in LONG_LIVED and execution.status == WorkflowExecutionStatus.RUNNING:
            ended_well = True
        if not ended_well:
            runs.not_completed.append(f"{execution.id} ({status})")
        end = execution.close_time.timestamp() if execution.close_time else time.time()
        runs.spans.append((execution.start_time.timestamp(), end))
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                runs.retries += max(0, event.activity_task_started_event_attributes.attempt - 1)
    return runs


def open_during(spans: list[tuple[float, float]], wall: float) -> bool:
    return any(start <= wall < end for start, end in spans)


async def request_counts(stack: Stack) -> dict[str, int]:
    return {name: sum((await Emulator(getattr(stack, f"{name}_url")).stats())["requests"].values()) for name in FAULTS}


async def fault_share(stack: Stack, before: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Each emulator's requests since the faults went on, and the share of them a fault answered."""
    shares = {}
    for name in FAULTS:
        stats = await Emulator(getattr(stack, f"{name}_url")).stats()
        requests = sum(stats["requests"].values()) - before[name]
        faults = sum(stats["faults_applied"].values())
        shares[name] = {"requests": requests, "faults": faults, "share": round(faults / requests, 3) if requests else 0}
    return shares


def api_500s(stack: Stack) -> dict[str, int]:
    """The API's answers of 500 by route, from its access log: an outage must be a 503 that says so, never a 500
    (the webhook's caller would redeliver anyway, so only the log shows it)."""
    found: Counter[str] = Counter()
    for line in (stack.logs / "api.log").read_text(errors="replace").splitlines():
        if '" 500 ' in line:
            found[line.split('"')[1]] += 1
    return dict(found)


# --------------------------------------------------------------------------- one run


async def run(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    # MAX's per-chat 2 messages/s would make the channels take many minutes; the bot token's 30/s stays.
    env = {"LONGRUN_MAX_CHAT_MESSAGES_PER_SECOND": "0", "LONGRUN_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET}
    api_url = await asyncio.to_thread(stack.start_api, "api", TASK_QUEUE, env=env)
    worker = await asyncio.to_thread(stack.start_worker, "worker-1", TASK_QUEUE, env=env)
    admin = await Api.login(api_url, "admin", ADMIN_PASSWORD)
    engine = create_async_engine(stack.pg.database_url, pool_size=2, pool_pre_ping=True)
    client = await stack_client(stack)
    chaos = Chaos(stack, worker, env)
    work = Workload(stack, Caller(admin), engine, args, api_url)
    try:
        for n, name in enumerate(FAULTS):
            # The coins too: a rerun with this seed draws the same faults, another seed others (each emulator its own).
            await Emulator(getattr(stack, f"{name}_url")).control(
                "POST", f"/_emulator/reset?seed={args.seed * 100 + n}"
            )
        await work.prepare()
        before = await request_counts(stack)
        for name, rules in FAULTS.items():
            for rule in rules:
                await Emulator(getattr(stack, f"{name}_url")).fault(**rule)
        started = time.time()
        print(f"  feeding for {args.window:g}s, shooting {args.kills} workers, Temporal and Postgres", flush=True)
        feeding = asyncio.create_task(work.feed())
        await chaos.run(args.window, args.kills, args.seed)
        await asyncio.sleep(max(0.0, started + args.window - time.time()))
        work.stop.set()
        await feeding
        window_s = time.time() - started
        shares = await fault_share(stack, before)
        for name in FAULTS:  # lift the rules, keep the counts
            await Emulator(getattr(stack, f"{name}_url")).clear_faults()
        print(f"  window closed after {window_s:.1f}s; waiting for every job ...", flush=True)
        await settle(work, args.settle)
        settled_s = time.time() - started
        domains = {}
        kills = [shot.wall for shot in chaos.shots if shot.what == "worker"]
        for name, types in DOMAINS.items():
            runs = await temporal_runs(client, types)
            checked = await CHECKS[name](work)
            first = min((s for s, _ in runs.spans), default=started)
            last = max((e for _, e in runs.spans), default=started)
            domains[name] = {
                **checked,
                "workflows": sum(runs.statuses.values()),
                "statuses": dict(runs.statuses),
                "not_completed": runs.not_completed,
                "worker_kills": sum(open_during(runs.spans, wall) for wall in kills),
                "temporal_restarts": sum(open_during(runs.spans, s.wall) for s in chaos.shots if s.what == "temporal"),
                "postgres_restarts": sum(open_during(runs.spans, s.wall) for s in chaos.shots if s.what == "postgres"),
                "retries": runs.retries + checked.get("redeliveries", 0),
                "wall_s": round(last - first, 1),
            }
        housekeeping = await temporal_runs(client, HOUSEKEEPING)
        return {
            "domains": domains,
            "shots": [vars(shot) for shot in chaos.shots],
            "faults": shares,
            "api_asked_again": work.api.asked_again,
            "api_500s": api_500s(stack),
            "housekeeping": {"statuses": dict(housekeeping.statuses), "not_completed": housekeeping.not_completed},
            "window_s": round(window_s, 1),
            "settled_s": round(settled_s, 1),
        }
    finally:
        work.stop.set()
        await admin.close()
        await engine.dispose()


def judge(results: dict[str, Any], kills: int) -> tuple[dict[str, str], dict[str, bool], dict[str, str]]:
    """The targets, whether each was met, and what was measured (the short form in `make test` asserts on these)."""
    domains = results["domains"]
    not_completed = [w for d in domains.values() for w in d["not_completed"]]
    shots = Counter(s["what"] for s in results["shots"])
    faults = results["faults"].values()
    share = sum(f["faults"] for f in faults) / max(1, sum(f["requests"] for f in faults))
    targets = {
        "completed": "every workflow of every domain completed",
        "lost": "0 items lost",
        "duplicates": "0 effects twice",
        "shots": f"{kills} worker kills, 1 Temporal and 1 Postgres restart; each domain had work open at one",
        "faults": f"{FAULT_SHARE:.0%} of requests faulted (>= 15% over all emulators, and some at each)",
        "api_500s": "0 answers 500 from the API",
    }
    open_at_every_shot = all(
        d["worker_kills"] + d["temporal_restarts"] + d["postgres_restarts"] > 0 for d in domains.values()
    )
    met = {
        "completed": not not_completed and all(d["workflows"] for d in domains.values()),
        "lost": sum(d["lost"] for d in domains.values()) == 0,
        "duplicates": sum(d["duplicates"] for d in domains.values()) == 0,
        "shots": shots == Counter({"worker": kills, "temporal": 1, "postgres": 1}) and open_at_every_shot,
        "faults": share >= 0.15 and all(f["faults"] for f in faults),
        "api_500s": not results["api_500s"],
    }
    measured = {
        "completed": f"{sum(d['workflows'] for d in domains.values()) - len(not_completed)}"
        f" of {sum(d['workflows'] for d in domains.values())}",
        "lost": str(sum(d["lost"] for d in domains.values())),
        "duplicates": str(sum(d["duplicates"] for d in domains.values())),
        "shots": ", ".join(f"{n} {what}" for what, n in shots.items()),
        "faults": f"{share:.1%}; fewest at one emulator: {min(f['faults'] for f in faults)}",
        "api_500s": ", ".join(f"{n} {route}" for route, n in results["api_500s"].items()) or "0",
    }
    return targets, met, measured


def report(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    domains = results["domains"]
    print(table(
        ["domain", "workflows", "completed", "items", "worker kills", "Temporal", "Postgres", "retries",
         "duplicates", "lost", "wall s"],
        [[name, d["workflows"], d["workflows"] - len(d["not_completed"]), d["items"], d["worker_kills"],
          d["temporal_restarts"], d["postgres_restarts"], d["retries"], d["duplicates"], d["lost"], d["wall_s"]]
         for name, d in domains.items()],
    ))  # fmt: skip
    print()
    print(table(
        ["shot", "back after s"],
        [[s["what"], round(s["back_s"], 2)] for s in results["shots"]],
    ))  # fmt: skip
    print()
    print(table(
        ["emulator", "requests", "faults", "share"],
        [[name, f["requests"], f["faults"], f["share"]] for name, f in results["faults"].items()],
    ))  # fmt: skip
    for line in [w for d in domains.values() for w in d["not_completed"]][:10]:
        print(f"  not completed: {line}")
    targets, met, measured = judge(results, args.kills)
    print_targets(targets, met, measured)
    path = write_results(NAME, vars(args), results, targets, met)
    print(f"wrote {path}")
    return {"met": met, **results}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench chaos")
    parser.add_argument("--window", type=float, default=60.0, help="seconds of workload and shots")
    parser.add_argument("--kills", type=int, default=5, help="kill -9s of the worker")
    parser.add_argument("--posts", type=int, default=600, help="posts in each migrated channel")
    parser.add_argument("--documents", type=int, default=2000, help="bank documents in the 1C book")
    parser.add_argument("--contractors", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1, help="the faults' coins, the shots' times, the 1C book")
    parser.add_argument("--settle", type=float, default=600.0, help="seconds allowed after the window")
    parser.add_argument("--runs", type=int, default=1, help="runs in a row, seeds --seed, --seed + 1, ...")
    return parser


RUNS = RESULTS / "chaos-runs"


def keep_run(stack: Stack, run_dir: Path) -> None:
    """The emulators' fault logs and every process's log, copied out of the stack before it goes."""
    run_dir.mkdir(parents=True, exist_ok=True)
    logs = {}
    for name in FAULTS:
        try:
            logs[name] = httpx.get(f"{getattr(stack, f'{name}_url')}/_emulator/fault-log", timeout=60).json()
        except httpx.HTTPError as exc:  # an emulator that died: its process log says why
            logs[name] = [{"error": repr(exc)}]
    (run_dir / "faults.json").write_text(json.dumps(logs) + "\n")
    shutil.copytree(stack.logs, run_dir / "logs", dirs_exist_ok=True)
    if stack.pg.log_path.exists():  # Postgres writes its own, beside its data
        shutil.copy(stack.pg.log_path, run_dir / "logs" / "postgres.log")
    # Packed, the logs and the fault log are small enough to commit beside the summary (~40 KB a run).
    with tarfile.open(run_dir / "logs.tar.gz", "w:gz") as packed:
        packed.add(run_dir / "logs", arcname="logs")
        packed.add(run_dir / "faults.json", arcname="faults.json")


def one_run(args: argparse.Namespace) -> tuple[dict[str, Any], Path]:
    run_dir = RUNS / f"{time.strftime('%Y%m%d-%H%M%S')}-seed{args.seed}"
    with bench_stack(durable_temporal=True) as stack:
        try:
            results = asyncio.run(run(stack, args))
        finally:
            keep_run(stack, run_dir)
    summary = report(results, args)
    shutil.copy(RESULTS / f"{NAME}.json", run_dir / "summary.json")
    print(f"kept the run in {run_dir}")
    return summary, run_dir


def main(argv: list[str]) -> dict[str, Any]:
    args = parser().parse_args(argv)
    rows, summary = [], {}
    for n in range(args.runs):
        seeded = argparse.Namespace(**{**vars(args), "seed": args.seed + n})
        print(f"run {n + 1} of {args.runs}, seed {seeded.seed}", flush=True)
        try:
            summary, run_dir = one_run(seeded)
        except Exception as exc:  # one run crashing is its seed's row; the next seeds still run
            rows.append([seeded.seed, f"crashed: {exc!r}"[:60], "-", "-", "-", "-"])
            continue
        domains, met = summary["domains"], summary["met"]
        missed = ", ".join(key for key, ok in met.items() if not ok) or "-"
        lost = ", ".join(f"{name} {d['lost']}" for name, d in domains.items() if d["lost"]) or "0"
        dups = ", ".join(f"{name} {d['duplicates']}" for name, d in domains.items() if d["duplicates"]) or "0"
        rows.append([seeded.seed, "all met" if all(met.values()) else "MISSED", missed, lost, dups, run_dir.name])
    print()
    print(table(["seed", "targets", "missed", "lost", "duplicates", "kept in"], rows))
    return {**summary, "runs": rows}
