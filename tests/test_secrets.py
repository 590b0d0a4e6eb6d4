"""Secrets every process must share (the JWT secret, the payload keys): generated once, owner-only, one for every
process that races to make it, and only where every process shares the data dir; elsewhere a missing one stops the
API and the worker at start."""

import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.auth import jwt_secret
from runtime.payload_codec import payload_keys
from settings import ROOT, MissingSecretError, Settings, write_secret_once

# A database on another host, as under compose: the processes share no data dir.
REMOTE_DB = "postgresql+asyncpg://longrun:longrun@db.invalid:5432/longrun"
EMBEDDED_DB = "postgresql+asyncpg://postgres@/longrun?host=/tmp/longrun-pg"


def _race(data_dir: str, which: str, start, out) -> None:
    settings = Settings(_env_file=None, data_dir=data_dir, jwt_secret="", payload_keys="")
    start.wait()
    secret = jwt_secret(settings) if which == "jwt" else str(payload_keys(settings))
    out.put(secret)


@pytest.mark.parametrize("which", ["jwt", "payload"])
def test_processes_racing_to_generate_end_with_one_owner_only_secret(tmp_path, which):
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Barrier(8), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), which, start, out)) for _ in range(8)]
    for proc in procs:
        proc.start()
    secrets = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(60)
    assert len(set(secrets)) == 1 and secrets[0] not in ("", "{}"), "every process must read the one secret"
    [kept] = list(tmp_path.iterdir())
    assert kept.stat().st_mode & 0o777 == 0o600


def test_a_secret_file_is_owner_only_from_its_first_byte(tmp_path):
    """With a permissive umask, what exists while the secret is being written (the draft) is already 0600."""
    seen: list[int] = []

    def make() -> str:
        seen.extend(p.stat().st_mode & 0o777 for p in tmp_path.iterdir())
        return "s3cret"

    old = os.umask(0)
    try:
        assert write_secret_once(tmp_path / "jwt_secret", make) == "s3cret"
    finally:
        os.umask(old)
    assert seen == [0o600]
    assert [p.stat().st_mode & 0o777 for p in tmp_path.iterdir()] == [0o600]


def test_a_slow_generation_raced_by_others_still_leaves_one_secret(tmp_path):
    """A wide window between creating the file and its last byte: nobody reads a half-written or empty secret,
    and nobody's secret replaces the one the others already read."""

    def make() -> str:
        time.sleep(0.05)  # widens the race window; nothing waits on it
        return uuid.uuid4().hex

    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: write_secret_once(tmp_path / "s", make), range(8)))
    assert len(set(found)) == 1 and found[0] == (tmp_path / "s").read_text()


@pytest.mark.parametrize(
    ("database_url", "generate", "allowed"),
    [("", None, True), (EMBEDDED_DB, None, True), (REMOTE_DB, None, False), (REMOTE_DB, True, True),
     (EMBEDDED_DB, False, False)],
)  # fmt: skip
def test_secrets_are_generated_only_where_every_process_shares_the_data_dir(tmp_path, database_url, generate, allowed):
    settings = Settings(
        _env_file=None, data_dir=tmp_path, database_url=database_url, generate_secrets=generate,
        jwt_secret="", payload_keys="",
    )  # fmt: skip
    if allowed:
        assert jwt_secret(settings) and payload_keys(settings)
        return
    with pytest.raises(MissingSecretError, match="LONGRUN_JWT_SECRET is not set"):
        jwt_secret(settings)
    with pytest.raises(MissingSecretError, match="LONGRUN_PAYLOAD_KEYS is not set"):
        payload_keys(settings)
    assert not list(tmp_path.iterdir()), "nothing generated"


def _start(tmp_path, args: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LONGRUN_")}
    env.update(LONGRUN_DATABASE_URL=REMOTE_DB, LONGRUN_DATA_DIR=str(tmp_path), LONGRUN_TEMPORAL_ADDRESS="127.0.0.1:1")
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_the_worker_refuses_to_start_without_the_shared_keys(tmp_path):
    started = _start(tmp_path, [str(ROOT / "worker.py")])
    assert started.returncode != 0
    assert "LONGRUN_PAYLOAD_KEYS is not set" in started.stderr
    assert not (tmp_path / "payload_keys").exists()


def test_the_api_refuses_to_start_without_the_shared_secret(tmp_path):
    args = ["-m", "uvicorn", "api.app:create_app", "--factory", "--app-dir", str(ROOT), "--port", "0"]
    started = _start(tmp_path, args)
    assert started.returncode != 0
    assert "LONGRUN_JWT_SECRET is not set" in started.stderr
    assert not (tmp_path / "jwt_secret").exists()
