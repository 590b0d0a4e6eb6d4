"""`python -m devstack up | worker | down` — the local stack behind `make up` and `make worker`.

up      Starts, in order: embedded Postgres (data_dir/pg), migrations (`python -m db.migrate`), the
        Temporal dev server (data_dir/temporal.db, Web UI), the OpenAI, feeds, Telegram, 1C, MAX and Telegram Bot
        API emulators, one worker,
        the API, then `python -m devstack.bootstrap`. Writes data_dir/stack.json and waits.
        Ctrl-C / SIGTERM stops everything in reverse (API and worker first, Postgres last); nothing
        in data_dir is removed, so the next `up` continues where this one stopped.
        If the worker dies, `up` reports it and keeps the rest running (`make worker` replaces it:
        that is what durable execution is for). If any other piece dies, `up` says so and starts it
        again on its kept data and ports, after 1 s, doubling to 30 s while it keeps dying (see
        devstack/supervisor.py); meanwhile the API answers 503 for what needs the missing piece.
worker  Runs one more `python worker.py` in the foreground against the running stack (scale out, or
        replace a crashed worker).
down    Stops a stack whose `up` is gone or in another terminal (asks `up` to stop; if `up` was
        killed, stops the processes recorded in stack.json, checking each pid's command line first).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from devstack import processes as P
from devstack.stack import served_queues
from devstack.supervisor import Supervisor

ROOT = P.ROOT
if str(ROOT) not in sys.path:  # `settings` lives at the repository root
    sys.path.insert(0, str(ROOT))

# The emulators `up` starts, in order: (piece, label, module, StackConfig port attribute).
EMULATORS = [
    ("openai_emulator", "openai emulator", "emulators.openai_compat", "openai_port"),
    ("feeds_emulator", "feeds emulator", "emulators.feeds", "feeds_port"),
    ("telegram_emulator", "telegram emulator", "emulators.telegram", "telegram_port"),
    ("onec_emulator", "1c emulator", "emulators.onec", "onec_port"),
    ("max_emulator", "max emulator", "emulators.max", "max_port"),
    ("telegram_bot_emulator", "telegram bot api emulator", "emulators.telegram_bot", "telegram_bot_port"),
]
# Reverse of start order, with the API and worker first so no new work arrives while Temporal stops.
STOP_ORDER = ["api", "worker", "temporal", *(piece for piece, *_ in reversed(EMULATORS)), "postgres"]
STOP_TIMEOUTS = {"worker": 20.0, "api": 10.0, "temporal": 15.0}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def say(message: str) -> None:
    print(f"[devstack] {message}", flush=True)


class Shutdown(Exception):
    """Raised in the main thread by SIGINT / SIGTERM / SIGHUP."""


class StartupError(RuntimeError):
    pass


# --------------------------------------------------------------------------- configuration


def _local_port(url: str, default: int) -> int:
    parts = urlsplit(url if "://" in url else f"//{url}")
    if parts.hostname in LOCAL_HOSTS and parts.port:
        return parts.port
    return default


def _unused(emulator_url: str, used_url: str, why: str) -> str:
    """The summary's note on an emulator that runs but is not what the worker talks to."""
    return "" if used_url == emulator_url else f"  (not used: {why})"


@dataclass
class StackConfig:
    data_dir: Path
    temporal_port: int
    ui_port: int
    openai_port: int
    feeds_port: int
    telegram_port: int
    onec_port: int
    max_port: int
    telegram_bot_port: int
    api_port: int
    metrics_port: int
    task_queue: str
    namespace: str

    @property
    def stack_file(self) -> Path:
        return self.data_dir / "stack.json"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def ports(self) -> dict[str, int]:
        return {
            "temporal": self.temporal_port,
            "temporal web ui": self.ui_port,
            **{label: getattr(self, port) for _, label, _, port in EMULATORS},
            "api": self.api_port,
            "worker metrics": self.metrics_port,
        }

    @classmethod
    def from_settings(cls, args: argparse.Namespace) -> StackConfig:
        from settings import Settings

        # The embedded stack, whatever Temporal a developer's TEMPORAL_* variables or profile point at.
        s = Settings(temporal_envconfig=False)
        temporal_port = args.temporal_port or _local_port(s.temporal_address, 7233)
        return cls(
            data_dir=Path(args.data_dir or s.data_dir).expanduser().resolve(),
            temporal_port=temporal_port,
            ui_port=args.ui_port or temporal_port + 1000,
            openai_port=args.openai_port or _local_port(s.openai_base_url, 8101),
            feeds_port=args.feeds_port or _local_port(s.feed_emulator_url, 8102),
            telegram_port=args.telegram_port or _local_port(s.telegram_emulator_url or "", 8103),
            onec_port=args.onec_port or _local_port(s.onec_url, 8105),
            max_port=args.max_port or _local_port(s.max_api_url, 8104),
            telegram_bot_port=args.telegram_bot_port or _local_port(s.telegram_bot_api_url, 8106),
            api_port=args.api_port or s.api_port,
            metrics_port=args.metrics_port or s.worker_metrics_port or 9464,
            task_queue=s.task_queue,
            namespace=s.temporal_namespace,
        )


def read_stack_file(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SystemExit(f"[devstack] cannot read {path}: {exc}") from None


def _private_draft(path: Path, text: str) -> Path:
    """`text` in a new file beside `path`, owner-only from its first byte (created 0600, not chmod-ed after: a
    file written under the default umask is readable by everyone until then)."""
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return draft


def write_json_atomic(path: Path, data: dict) -> None:
    """stack.json names the codec key and every process's command line: owner-only, and replaced whole."""
    _private_draft(path, json.dumps(data, indent=2) + "\n").replace(path)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- up


class Stack:
    """The pieces `up` started, so they can be stopped in order whatever happened."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.pieces: dict[str, P.Proc | P.PgHandle] = {}
        self.env: dict[str, str] = {}
        self.overlay: dict[str, str] = {}
        self.database_url = ""
        self.started_at = now_iso()
        self.postgres_attempted = False

    @property
    def temporal_address(self) -> str:
        return f"{P.HOST}:{self.cfg.temporal_port}"

    def _step(self, label: str, fn, *args, verb: str = "ready", **kwargs):
        t0 = time.monotonic()
        result = fn(*args, **kwargs)
        pid = getattr(result, "pid", None)
        say(f"{label:<16} {verb} in {time.monotonic() - t0:4.1f}s" + (f"  (pid {pid})" if pid else ""))
        return result

    def start(self) -> None:
        cfg = self.cfg
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        logs = cfg.log_dir

        self.postgres_attempted = True
        pg = self._step("postgres", self.start_piece, "postgres")
        assert isinstance(pg, P.PgHandle)  # what start_piece("postgres") answers
        self.pieces["postgres"] = pg
        self.database_url = pg.database_url
        self.env = P.stack_env(
            database_url=pg.database_url,
            temporal_address=self.temporal_address,
            data_dir=cfg.data_dir,
            openai_port=cfg.openai_port,
            feeds_port=cfg.feeds_port,
            telegram_port=cfg.telegram_port,
            onec_port=cfg.onec_port,
            max_port=cfg.max_port,
            telegram_bot_port=cfg.telegram_bot_port,
            task_queue=cfg.task_queue,
            namespace=cfg.namespace,
            api_port=cfg.api_port,
            ui_port=cfg.ui_port,
        )
        # The tracker's bot: a webhook secret kept in the data dir, and the webhook at this API, which bootstrap
        # registers with the Bot API (setWebhook), so updates flow from the first `make up`.
        self.env.setdefault("LONGRUN_TELEGRAM_WEBHOOK_SECRET", kept_secret(cfg.data_dir / "telegram_webhook_secret"))
        self.env.setdefault("LONGRUN_TELEGRAM_WEBHOOK_URL", f"http://{P.HOST}:{cfg.api_port}/webhook/telegram")
        # The Temporal Web UI shows payloads decrypted through the API's codec endpoint, at a path only it is given.
        self.env.setdefault("LONGRUN_CODEC_UI_KEY", kept_secret(cfg.data_dir / "codec_ui_key"))
        self.env["LONGRUN_WORKER_METRICS_PORT"] = str(cfg.metrics_port)
        self.overlay = {k: v for k, v in self.env.items() if os.environ.get(k) != v}

        migrate = ["-m", "db.migrate"]
        self._step("migrations", P.run_python, "migrate", migrate, self.env, logs, timeout=300, verb="done")

        self.pieces["temporal"] = self._step("temporal", self.start_piece, "temporal")
        for piece, label, *_ in EMULATORS:
            self.pieces[piece] = self._step(label, self.start_piece, piece)

        t0 = time.monotonic()
        worker = P.start_python("worker", ["worker.py"], self.env, logs)
        self.pieces["worker"] = worker
        api = self.start_piece("api", wait=False)
        assert isinstance(api, P.Proc)  # what start_piece("api") answers
        self.pieces["api"] = api
        # One worker serving every kind of work, so it polls each kind's queue (and the base one).
        queues = served_queues(self.env)
        try:
            P.wait_worker_polling(self.temporal_address, queues, worker.pid, 60, worker, cfg.namespace)
            say(f"{'worker':<16} ready in {time.monotonic() - t0:4.1f}s  (pid {worker.pid})")
        except TimeoutError:
            worker.check_alive()
            say(f"worker (pid {worker.pid}) runs but has not polled task queues {queues} yet; see {logs}")
        # Bootstrap first: the API reports ready only once there is an admin to sign in as.
        say("bootstrap (admin user, demo sources):")
        t1 = time.monotonic()
        # Output goes straight to the terminal: it shows the admin password when one was generated.
        code = subprocess.run(
            [P.python_executable(), "-m", "devstack.bootstrap"], env=self.env, cwd=ROOT, timeout=300
        ).returncode
        if code != 0:
            raise StartupError(f"python -m devstack.bootstrap failed (exit {code}); its output is above")
        say(f"{'bootstrap':<16} done in {time.monotonic() - t1:4.1f}s")
        P.wait_http(f"http://{P.HOST}:{cfg.api_port}/api/v1/health", 60, api)
        say(f"{'api':<16} ready in {time.monotonic() - t0:4.1f}s  (pid {api.pid})")
        self.write_stack_file()

    def start_piece(self, name: str, *, wait: bool = True) -> P.Proc | P.PgHandle:
        """Start one piece on its kept data and ports: at `up`, and again whenever the supervisor replaces it.
        `wait`: return once it accepts connections (the API is waited on by its health instead at `up`)."""
        cfg = self.cfg
        logs = cfg.log_dir
        if name == "postgres":
            pg = P.start_postgres(cfg.data_dir / "pg")
            if self.database_url and pg.database_url != self.database_url:
                say(f"postgres now listens at {pg.database_url}; the API and worker still use {self.database_url}")
            return pg
        if name == "temporal":
            codec = f"http://{P.HOST}:{cfg.api_port}/api/v1/codec/web-ui/{self.env['LONGRUN_CODEC_UI_KEY']}"
            return P.start_temporal(
                cfg.data_dir / "temporal.db",
                cfg.temporal_port,
                cfg.ui_port,
                logs,
                namespace=cfg.namespace,
                ui_codec_endpoint=codec,
            )
        if name == "api":
            args = ["-m", "api", "--host", P.HOST, "--port", str(cfg.api_port)]
            api = P.start_python("api", args, self.env, logs, ports={"port": cfg.api_port})
            if wait:
                try:
                    P.wait_tcp(P.HOST, cfg.api_port, 60, api)
                except BaseException:
                    api.stop()
                    raise
            return api
        module, port = next((m, p) for piece, _, m, p in EMULATORS if piece == name)
        emulator = P.start_emulator(name, module, getattr(cfg, port), self.env, logs)
        if name == "telegram_bot_emulator" and "api" in self.pieces:
            # A new Bot API knows no webhook: register the tracker's again (bootstrap does only that when the
            # rest exists), or Telegram's updates would stop reaching the tracker.
            P.run_python("bootstrap", ["-m", "devstack.bootstrap"], self.env, logs, timeout=120)
        return emulator

    def stack_data(self) -> dict:
        cfg = self.cfg
        processes: dict[str, dict] = {}
        for name, piece in self.pieces.items():
            if isinstance(piece, P.PgHandle):
                processes[name] = {"pid": piece.pid, "socket": str(piece.socket_dir), "data": str(piece.pg_dir)}
            else:
                entry: dict = {"pid": piece.pid, **piece.ports, "log": str(piece.log_path), "cmdline": piece.args}
                if not piece.alive():
                    entry["exited"] = piece.returncode
                processes[name] = entry
        return {
            "started_at": self.started_at,
            "up_pid": os.getpid(),
            "root": str(ROOT),
            "data_dir": str(cfg.data_dir),
            "processes": processes,
            "database_url": self.database_url,
            "temporal_address": self.temporal_address,
            "namespace": cfg.namespace,
            "task_queue": cfg.task_queue,
            "urls": self.urls(),
            "env": self.overlay,
        }

    def write_stack_file(self, **extra) -> None:
        write_json_atomic(self.cfg.stack_file, {**self.stack_data(), **extra})

    def urls(self) -> dict[str, str]:
        cfg = self.cfg
        api = f"http://{P.HOST}:{cfg.api_port}"
        return {
            "dashboard": f"{api}/",
            "api": f"{api}/api/v1/",
            "api_docs": f"{api}/docs",
            "metrics": f"{api}/metrics, http://{P.HOST}:{cfg.metrics_port}/metrics (worker)",
            "health": f"{api}/api/v1/health",
            "temporal_ui": f"http://{P.HOST}:{cfg.ui_port}",
            # What a person opens first: the jobs, not the reconcile sweeps' closed runs (2,880 a day each).
            "temporal_jobs": f"http://{P.HOST}:{cfg.ui_port}/namespaces/{cfg.namespace}/workflows"
            "?query=JobType%20IS%20NOT%20NULL",
            "temporal_grpc": self.temporal_address,
            "openai_emulator": f"http://{P.HOST}:{cfg.openai_port}/v1",
            "llm": self.env.get("OPENAI_BASE_URL", f"http://{P.HOST}:{cfg.openai_port}/v1"),
            "feeds_emulator": f"http://{P.HOST}:{cfg.feeds_port}",
            "telegram_emulator": f"http://{P.HOST}:{cfg.telegram_port}",
            "telegram": self.env.get("LONGRUN_TELEGRAM_EMULATOR_URL") or "Telegram (LONGRUN_TELEGRAM_SESSION)",
            "onec_emulator": f"http://{P.HOST}:{cfg.onec_port}",
            "onec": self.env.get("LONGRUN_ONEC_URL", f"http://{P.HOST}:{cfg.onec_port}"),
            "max_emulator": f"http://{P.HOST}:{cfg.max_port}",
            "max_api": self.env.get("LONGRUN_MAX_API_URL", f"http://{P.HOST}:{cfg.max_port}"),
            "telegram_bot_emulator": f"http://{P.HOST}:{cfg.telegram_bot_port}",
            "telegram_bot_api": self.env.get(
                "LONGRUN_TELEGRAM_BOT_API_URL", f"http://{P.HOST}:{cfg.telegram_bot_port}"
            ),
        }

    def print_summary(self, seconds: float) -> None:
        u = self.urls()
        rel = str(self.cfg.data_dir)
        if self.cfg.data_dir.is_relative_to(Path.cwd()):
            rel = os.path.relpath(self.cfg.data_dir) or "."
        lines = [
            f"Longrun is up ({seconds:.1f}s).",
            f"  Dashboard        {u['dashboard']}",
            f"  API              {u['api']}",
            f"  API docs         {u['api_docs']}",
            f"  Metrics          {u['metrics']}",
            f"  Temporal Web UI  {u['temporal_jobs']}  (jobs; without the filter, housekeeping sweeps too)",
            f"  Temporal gRPC    {u['temporal_grpc']}  (namespace {self.cfg.namespace}, queue {self.cfg.task_queue})",
            f"  OpenAI emulator  {u['openai_emulator']}"
            + _unused(u["openai_emulator"], u["llm"], f"OPENAI_API_KEY is set, LLM at {u['llm']}"),
            f"  Feeds emulator   {u['feeds_emulator']}",
            f"  Telegram stand-in {u['telegram_emulator']}"
            + _unused(u["telegram_emulator"], u["telegram"], f"the worker reads {u['telegram']}"),
            f"  1C emulator      {u['onec_emulator']}/odata/standard.odata/"
            + _unused(u["onec_emulator"], u["onec"], f"LONGRUN_ONEC_URL is {u['onec']}"),
            f"  MAX emulator     {u['max_emulator']}"
            + _unused(u["max_emulator"], u["max_api"], f"MAX API at {u['max_api']}"),
            f"  Bot API emulator {u['telegram_bot_emulator']}"
            + _unused(u["telegram_bot_emulator"], u["telegram_bot_api"], f"Bot API at {u['telegram_bot_api']}"),
            f"  Postgres         {self.database_url}",
            f"  Logs             {rel}/logs/   state: {rel}/stack.json",
            "Ctrl-C stops everything (data stays). A part that dies is restarted; `make worker` replaces a worker.",
        ]
        print("\n".join(lines), flush=True)

    def stop(self) -> None:
        if self.postgres_attempted and "postgres" not in self.pieces:
            # interrupted while postgres was starting: it may be up without a handle
            P.stop_postgres(self.cfg.data_dir / "pg")
        for name in STOP_ORDER:
            piece = self.pieces.get(name)
            if piece is None:
                continue
            t0 = time.monotonic()
            try:
                if isinstance(piece, P.PgHandle):
                    # A dead handle: the supervisor may have been interrupted while it started a new server.
                    piece.stop() if piece.alive() else P.stop_postgres(piece.pg_dir)
                else:
                    was_alive = piece.alive()
                    piece.stop(STOP_TIMEOUTS.get(name, 10.0))
                    if not was_alive:
                        continue
            except Exception as exc:  # keep stopping the rest
                say(f"stopping {name} failed: {exc}")
                continue
            say(f"stopped {name:<16} in {time.monotonic() - t0:4.1f}s")


def _raise_shutdown(signum: int, frame: FrameType | None) -> None:
    raise Shutdown(signal.Signals(signum).name)


def _ignore_during_stop(signum: int, frame: FrameType | None) -> None:
    say(f"{signal.Signals(signum).name}: already stopping, please wait")


def _set_handlers(handler) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def cmd_up(args: argparse.Namespace) -> int:
    cfg = StackConfig.from_settings(args)
    previous = read_stack_file(cfg.stack_file)
    if previous and not previous.get("stopped_at") and _is_devstack(int(previous.get("up_pid") or 0)):
        say(f"a stack is already up (devstack pid {previous['up_pid']}, see {cfg.stack_file}); "
            "stop it with Ctrl-C in its terminal or `make down`")  # fmt: skip
        return 1
    try:
        P.ensure_ports_free(cfg.ports)
    except P.PortInUse as exc:
        say(f"cannot start: {exc}. Is a stack already running? `make down` stops the one recorded in "
            f"{cfg.stack_file}; other ports: see `python -m devstack up --help`.")  # fmt: skip
        return 1

    stack = Stack(cfg)
    code = 0
    t0 = time.monotonic()
    _set_handlers(_raise_shutdown)
    try:
        say(f"data dir {cfg.data_dir}")
        stack.start()
        stack.write_stack_file()
        stack.print_summary(time.monotonic() - t0)
        watch(stack)
    except Shutdown as exc:
        say(f"{exc}: stopping")
    except Exception as exc:  # report it plainly, then stop what was started
        say(f"start-up failed: {exc if isinstance(exc, RuntimeError | OSError) else repr(exc)}")
        code = 1
    finally:
        _set_handlers(_ignore_during_stop)
        stack.stop()
        if stack.pieces:
            stack.write_stack_file(stopped_at=now_iso())
        say("stopped; data kept in " + str(cfg.data_dir))
    return code


def watch(stack: Stack) -> None:
    """Keep the stack up until a signal (raises Shutdown): a piece that dies is restarted, the worker reported."""
    supervisor = Supervisor(
        stack.pieces, stack.start_piece, say, unsupervised=["worker"], changed=stack.write_stack_file
    )
    while True:
        supervisor.tick()
        # A monitoring interval, not a wait for a state: a death is seen within half a second.
        time.sleep(0.5)


# --------------------------------------------------------------------------- worker


def cmd_worker(args: argparse.Namespace) -> int:
    cfg = StackConfig.from_settings(args)
    stack = read_stack_file(cfg.stack_file)
    if not stack or stack.get("stopped_at"):
        say(f"no running stack recorded in {cfg.stack_file}: start one with `make up`")
        return 1
    host, _, port = stack["temporal_address"].rpartition(":")
    if not P.tcp_open(host, int(port)):
        if not _is_devstack(int(stack.get("up_pid") or 0)):
            say(f"Temporal at {stack['temporal_address']} does not answer and `make up` is not running: start it")
            return 1
        # `make up` is restarting it: the worker waits for Temporal itself (and logs so), rather than the
        # replacement a person started for a dead worker exiting while Temporal is away.
        say(f"Temporal at {stack['temporal_address']} does not answer yet; `make up` is up, so the worker waits")
    env = {**os.environ, **stack.get("env", {})}
    say(f"worker pid {os.getpid()} on task queue {stack.get('task_queue')!r} at {stack['temporal_address']}")
    os.chdir(ROOT)
    os.execve(sys.executable, [sys.executable, "worker.py", *args.worker_args], env)
    return 0  # not reached


# --------------------------------------------------------------------------- down


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _is_devstack(pid: int) -> bool:
    return pid > 0 and pid != os.getpid() and P._pid_running(pid) and "devstack" in " ".join(_cmdline(pid))


def _stop_foreign_pid(name: str, pid: int, expected: list[str], timeout: float = 10.0) -> None:
    if not P._pid_running(pid):
        return
    actual = _cmdline(pid)
    if actual[1:] != expected[1:]:
        say(f"{name}: pid {pid} is now a different program ({' '.join(actual)[:80]}); left alone")
        return
    os.kill(pid, signal.SIGTERM)
    try:
        P.wait_until(lambda: not P._pid_running(pid), timeout, f"{name} (pid {pid}) to exit")
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        P.wait_until(lambda: not P._pid_running(pid), 5, f"{name} (pid {pid}) to die")
    say(f"stopped {name} (pid {pid})")


def cmd_down(args: argparse.Namespace) -> int:
    cfg = StackConfig.from_settings(args)
    stack = read_stack_file(cfg.stack_file)
    if not stack:
        say(f"nothing to stop: no {cfg.stack_file}")
        return 0
    up_pid = int(stack.get("up_pid") or 0)
    if _is_devstack(up_pid):
        say(f"asking devstack up (pid {up_pid}) to stop")
        os.kill(up_pid, signal.SIGTERM)
        P.wait_until(lambda: not P._pid_running(up_pid), 120, f"devstack up (pid {up_pid}) to stop the stack")
        return 0
    procs = stack.get("processes", {})
    for name in STOP_ORDER:
        entry = procs.get(name)
        if not entry:
            continue
        if name == "postgres":
            if P.stop_postgres(Path(entry.get("data") or cfg.data_dir / "pg")):
                say("stopped postgres")
        elif entry.get("cmdline"):
            _stop_foreign_pid(name, int(entry["pid"]), entry["cmdline"], STOP_TIMEOUTS.get(name, 10.0))
    if not stack.get("stopped_at"):
        write_json_atomic(cfg.stack_file, {**stack, "stopped_at": now_iso()})
    return 0


# --------------------------------------------------------------------------- command line


def kept_secret(path: Path) -> str:
    """A secret generated once and kept at `path` (owner-only), so a restart keeps what was registered with it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = _private_draft(path, secrets.token_urlsafe(32))
        try:
            os.link(draft, path)  # fails if another process made it first: theirs is the secret
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("up", "start the whole stack and wait (Ctrl-C stops it)"),
        ("worker", "run one more worker against the running stack"),
        ("down", "stop a stack started by `up` in another terminal or left over by a killed `up`"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--data-dir", type=Path, help="default: settings.data_dir (LONGRUN_DATA_DIR, .data/)")
        if name == "up":
            p.add_argument("--temporal-port", type=int, help="default: port of LONGRUN_TEMPORAL_ADDRESS (7233)")
            p.add_argument("--ui-port", type=int, help="Temporal Web UI; default: temporal port + 1000 (8233)")
            p.add_argument("--openai-port", type=int, help="default: port of OPENAI_BASE_URL (8101)")
            p.add_argument("--feeds-port", type=int, help="default: port of LONGRUN_FEED_EMULATOR_URL (8102)")
            p.add_argument("--telegram-port", type=int, help="default: port of LONGRUN_TELEGRAM_EMULATOR_URL (8103)")
            p.add_argument("--onec-port", type=int, help="1C OData emulator; default: port of LONGRUN_ONEC_URL (8105)")
            p.add_argument("--max-port", type=int, help="MAX emulator; default: port of LONGRUN_MAX_API_URL (8104)")
            p.add_argument(
                "--telegram-bot-port",
                type=int,
                help="Telegram Bot API emulator; default: port of LONGRUN_TELEGRAM_BOT_API_URL (8106)",
            )
            p.add_argument("--api-port", type=int, help="default: LONGRUN_API_PORT (8000)")
            p.add_argument("--metrics-port", type=int, help="the worker's /metrics; default: 9464")
        if name == "worker":
            p.add_argument("worker_args", nargs=argparse.REMAINDER, help="passed to worker.py")
    args = parser.parse_args(argv)
    for attr in ("temporal_port", "ui_port", *(port for *_, port in EMULATORS), "api_port", "metrics_port"):
        if not hasattr(args, attr):
            setattr(args, attr, None)
    return {"up": cmd_up, "worker": cmd_worker, "down": cmd_down}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
