"""A throw-away stack for tests and benchmarks: embedded Postgres, the Temporal dev server, the emulators
(OpenAI, feeds, Telegram, Telegram Bot API, MAX, 1C), worker processes and the API under uvicorn, all on free
loopback ports under one directory."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devstack import processes as ps
from runtime.queues import parse_kinds, worker_queues

ADMIN_PASSWORD = "admin-test-password"
# What lets a namespace keep closed runs for seconds: the server refuses a retention under a day unless told otherwise,
# and spreads deletions over a jitter (30 min by default) that a test would wait out.
SHORT_RETENTION_CONFIG: dict[str, Any] = {
    "system.namespaceMinRetentionLocal": "1s",
    "history.retentionTimerJitterDuration": "1s",
}
# The stack's payload key (runtime/payload_codec.py), fixed so that histories tests record replay later.
PAYLOAD_KEYS = "stack:" + "c3RhY2stcGF5bG9hZC1rZXktZm9yLXRlc3RzLW9ubHk="


@dataclass
class Stack:
    data_dir: Path
    pg: ps.PgHandle
    temporal: ps.Proc
    openai: ps.Proc
    feeds: ps.Proc
    telegram: ps.Proc
    onec: ps.Proc
    max: ps.Proc
    telegram_bot: ps.Proc
    procs: list[ps.Proc] = field(default_factory=list)
    # Where the dev server keeps its state: None is in memory, so a Temporal that dies takes every job with it.
    temporal_db: Path | None = None
    temporal_config: dict[str, Any] | None = None
    # The namespace every process of the stack uses, and how long it keeps closed runs (None: the server's default).
    namespace: str = "default"
    retention: str | None = None

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def temporal_address(self) -> str:
        return f"{ps.HOST}:{self.temporal.port}"

    @property
    def openai_url(self) -> str:
        return f"http://{ps.HOST}:{self.openai.port}"

    @property
    def feeds_url(self) -> str:
        return f"http://{ps.HOST}:{self.feeds.port}"

    @property
    def telegram_url(self) -> str:
        return f"http://{ps.HOST}:{self.telegram.port}"

    @property
    def onec_url(self) -> str:
        return f"http://{ps.HOST}:{self.onec.port}"

    @property
    def max_url(self) -> str:
        return f"http://{ps.HOST}:{self.max.port}"

    @property
    def telegram_bot_url(self) -> str:
        return f"http://{ps.HOST}:{self.telegram_bot.port}"

    def env(self, task_queue: str = "longrun-test", **extra: str) -> dict[str, str]:
        env = ps.stack_env(
            database_url=self.pg.database_url,
            temporal_address=self.temporal_address,
            data_dir=self.data_dir,
            openai_port=self.openai.port,
            feeds_port=self.feeds.port,
            task_queue=task_queue,
            namespace=self.namespace if self.namespace != "default" else None,
        )
        env.pop("OPENAI_API_KEY", None)
        env.pop("LONGRUN_TELEGRAM_SESSION", None)
        # Tests and benchmarks talk to this stack's emulators, whatever outside services the environment names.
        env["OPENAI_BASE_URL"] = f"{self.openai_url}/v1"
        env["LONGRUN_TELEGRAM_EMULATOR_URL"] = self.telegram_url
        env["LONGRUN_ONEC_URL"] = self.onec_url
        env["LONGRUN_MAX_API_URL"] = self.max_url
        env["LONGRUN_TELEGRAM_BOT_API_URL"] = self.telegram_bot_url
        env["LONGRUN_ADMIN_PASSWORD"] = ADMIN_PASSWORD
        env["LONGRUN_JWT_SECRET"] = "test-secret-" + "x" * 32
        # The embedding sweep would embed every test's planted messages behind its back (and add requests to the
        # OpenAI emulator's counts); a test of the sweep turns it on for its own deployment.
        env["LONGRUN_TRACKER_EMBED_SWEEP_SECONDS"] = "0"
        env.update(extra)
        return env

    def start_worker(
        self,
        name: str = "worker",
        task_queue: str = "longrun-test",
        *,
        wait: bool = True,
        env: Mapping[str, str] | None = None,
        **extra: str,
    ) -> ps.Proc:
        """A `python worker.py` process; with `wait`, returned once it polls its task queue.

        Its environment is the stack's with `env`, then `extra`, on top: a prepared dict goes in `env`, since
        `**dict` would also be offered to `wait` (and a type checker rightly refuses str for bool)."""
        extra = {**(env or {}), **extra}
        env = self.env(task_queue, **extra)
        worker = ps.start_python(name, ["worker.py"], env, self.logs)
        self.procs.append(worker)
        if wait:
            address = extra.get("LONGRUN_TEMPORAL_ADDRESS", self.temporal_address)
            namespace = extra.get("LONGRUN_TEMPORAL_NAMESPACE", self.namespace)
            ps.wait_worker_polling(address, served_queues(env), worker.pid, 60, worker, namespace)
        return worker

    def start_api(
        self,
        name: str = "api",
        task_queue: str = "longrun-test",
        ready: int = 200,
        *,
        env: Mapping[str, str] | None = None,
        **extra: str,
    ) -> str:
        """An API process; returns once its health answers `ready` (503: up, but not usable yet). Its environment
        is made as `start_worker`'s."""
        extra = {**(env or {}), **extra}
        port = ps.free_port()
        api = ps.start_python(
            name,
            ["-m", "api", "--host", ps.HOST, "--port", str(port)],
            self.env(task_queue, **extra),
            self.logs,
            ports={"port": port},
        )
        self.procs.append(api)
        url = f"http://{ps.HOST}:{port}"
        ps.wait_http(f"{url}/api/v1/health", 60, api, status=ready)
        return url

    @contextmanager
    def running_api(self, name: str, **extra: str) -> Iterator[str]:
        """A further API process of the stack (as `start_api` makes it, `extra` in its environment) for the block."""
        url = self.start_api(name, env=extra)
        try:
            yield url
        finally:
            self.stop_named(name)

    def database(self, url: str | None = None) -> AsyncEngine:
        return create_async_engine(url or self.pg.database_url, pool_size=2)

    def create_database(self, name: str, bootstrap: bool = True) -> str:
        """A second, migrated (and unless told otherwise bootstrapped) database on the same server, for a test that
        must not share data."""
        self.pg.psql(f"CREATE DATABASE {name}", database="postgres")
        self.pg.psql("CREATE EXTENSION IF NOT EXISTS vector", database=name)
        url = self.pg.database_url.replace(f"/{self.pg.database}?", f"/{name}?")
        env = self.env(LONGRUN_DATABASE_URL=url)
        ps.run_python(f"migrate-{name}", ["-m", "db.migrate"], env, self.logs, timeout=60)
        if bootstrap:
            ps.run_python(f"bootstrap-{name}", ["-m", "devstack.bootstrap"], env, self.logs, timeout=60)
        return url

    def stop_named(self, *names: str) -> None:
        for proc in [p for p in self.procs if p.name in names]:
            proc.stop()
            self.procs.remove(proc)

    def crash_temporal(self) -> None:
        """`kill -9` the dev server and start it again on its port and database file, as a supervisor would."""
        if self.temporal_db is None:
            raise RuntimeError("this stack's Temporal keeps its state in memory: start it with durable_temporal")
        self.temporal.kill9()
        assert self.temporal.port is not None  # started with its port
        self.temporal = start_namespace_temporal(
            self.temporal_db, self.temporal.port, self.logs, self.temporal_config, self.namespace, self.retention
        )

    def crash_postgres(self) -> None:
        """`kill -9` the postmaster and start it again on its data."""
        os.kill(self.pg.pid, signal.SIGKILL)
        ps.wait_until(lambda: not self.pg.alive(), 30, f"postgres (pid {self.pg.pid}) to die")
        self.pg = ps.start_postgres(self.pg.pg_dir, database=self.pg.database)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        for proc in (self.openai, self.feeds, self.telegram, self.telegram_bot, self.max, self.onec, self.temporal):
            proc.stop()
        self.pg.stop()


def start_namespace_temporal(
    db_file: Path | None,
    port: int,
    logs: Path,
    config: dict[str, Any] | None,
    namespace: str = "default",
    retention: str | None = None,
) -> ps.Proc:
    """The dev server with the stack's namespace (search attributes registered in it) and, with `retention` (a
    duration such as "5s"), that namespace keeping closed runs only so long, as a production namespace does for days."""
    if retention is not None:
        config = {**SHORT_RETENTION_CONFIG, **(config or {})}
    temporal = ps.start_temporal(db_file, port, None, logs, namespace=namespace, dynamic_config=config)
    if retention is not None:
        address = f"{ps.HOST}:{port}"
        done = ps.temporal_cli(
            address, "operator", "namespace", "update", "--namespace", namespace, "--retention", retention
        )
        if done.returncode != 0:
            temporal.stop()
            raise RuntimeError(f"setting namespace {namespace!r}'s retention to {retention}: {done.stderr.strip()}")
    return temporal


def start_stack(
    data_dir: Path,
    temporal_config: dict[str, Any] | None = None,
    *,
    durable_temporal: bool = False,
    namespace: str = "default",
    retention: str | None = None,
) -> Stack:
    """Every piece on free ports under `data_dir`; `temporal_config` adds dev-server dynamic config.
    `durable_temporal`: the dev server keeps its state in a file, so it can be killed and started again.
    `namespace`, `retention`: every process works in that namespace, which keeps closed runs for `retention` (the
    production shape: a namespace of its own whose retention passes; docs/production.md)."""
    logs = data_dir / "logs"
    # This process's own Temporal clients (fixtures, benchmarks) read the payloads the stack's workers write.
    os.environ.setdefault("LONGRUN_PAYLOAD_KEYS", PAYLOAD_KEYS)
    started: list[Any] = []
    try:
        pg = ps.start_postgres(data_dir / "pg")
        started.append(pg)
        temporal_db = data_dir / "temporal.db" if durable_temporal else None
        temporal = start_namespace_temporal(temporal_db, ps.free_port(), logs, temporal_config, namespace, retention)
        started.append(temporal)
        openai = ps.start_emulator("openai", "emulators.openai_compat", ps.free_port(), None, logs)
        started.append(openai)
        feeds = ps.start_emulator("feeds", "emulators.feeds", ps.free_port(), None, logs)
        started.append(feeds)
        telegram = ps.start_emulator("telegram", "emulators.telegram", ps.free_port(), None, logs)
        started.append(telegram)
        # Inherits this environment, as workers do: it checks the LONGRUN_ONEC_USER/PASSWORD their client sends.
        onec = ps.start_emulator("onec", "emulators.onec", ps.free_port(), None, logs)
        started.append(onec)
        max_emulator = ps.start_emulator("max", "emulators.max", ps.free_port(), None, logs)
        started.append(max_emulator)
        telegram_bot = ps.start_emulator("telegram_bot", "emulators.telegram_bot", ps.free_port(), None, logs)
        started.append(telegram_bot)
    except BaseException:
        for thing in reversed(started):
            thing.stop()
        raise
    stack = Stack(
        data_dir=data_dir,
        pg=pg,
        temporal=temporal,
        openai=openai,
        feeds=feeds,
        telegram=telegram,
        max=max_emulator,
        telegram_bot=telegram_bot,
        onec=onec,
        temporal_db=temporal_db,
        temporal_config=temporal_config,
        namespace=namespace,
        retention=retention,
    )
    try:
        ps.run_python("migrate", ["-m", "db.migrate"], stack.env(), logs, timeout=60)
        ps.run_python("bootstrap", ["-m", "devstack.bootstrap"], stack.env(), logs, timeout=60)
    except BaseException:
        stack.stop()
        raise
    return stack


def served_queues(env: Mapping[str, str]) -> list[str]:
    """The task queues a worker started with `env` polls: one per kind `LONGRUN_WORKER_QUEUES` names (all by
    default), and the base queue with the interactive one."""
    kinds = parse_kinds(env.get("LONGRUN_WORKER_QUEUES", ""))
    return list(worker_queues(env.get("LONGRUN_TASK_QUEUE", "longrun"), kinds))
