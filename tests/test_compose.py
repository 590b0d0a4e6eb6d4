"""docker-compose.yml against the code and the tests: every variable it (and .env.example) sets is one settings.py
reads, its images are the versions the tests run against, and the API and worker have health checks and restart
policies, the worker's check answering from a real worker."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from devstack import processes as ps
from runtime import temporal_config
from settings import ROOT, Settings

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
OUR_SERVICES = ("migrate", "worker", "api")


def settings_variables() -> set[str]:
    """Every environment variable Settings reads: LONGRUN_<field>, and the aliases some fields take."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"LONGRUN_{name.upper()}")
        choices = getattr(field.validation_alias, "choices", None) or []
        names.update(choice for choice in choices if isinstance(choice, str))
    return names


def read_by_longrun(variable: str, settings_reads: set[str]) -> bool:
    """Read by Settings, or by Temporal's environment configuration, which Settings resolves the connection from
    (TEMPORAL_ADDRESS, TEMPORAL_API_KEY, TEMPORAL_TLS_*...: runtime/temporal_config.py)."""
    return variable in settings_reads or temporal_config.reads(variable)


def test_every_variable_compose_sets_for_our_services_is_read_by_settings():
    known = settings_variables()
    for service in OUR_SERVICES:
        environment = COMPOSE["services"][service].get("environment", {})
        assert environment, f"{service} sets no environment (the x-longrun anchor was lost?)"
        unknown = {variable for variable in environment if not read_by_longrun(variable, known)}
        assert not unknown, f"{service} sets variables settings.py does not read: {sorted(unknown)}"


def test_every_variable_of_the_env_example_is_read_by_settings():
    """...or by compose itself for a service not ours (the Web UI's TEMPORAL_DISABLE_WRITE_ACTIONS)."""
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    assert {"LONGRUN_PAYLOAD_KEYS", "LONGRUN_JWT_SECRET"} <= named
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "docker-compose.yml").read_text()))
    known = settings_variables()
    unread = {variable for variable in named - interpolated if not read_by_longrun(variable, known)}
    assert {"TEMPORAL_API_KEY", "TEMPORAL_TLS_CLIENT_CERT_PATH"} <= named, "the secured cluster's and Cloud's lines"
    assert not unread, sorted(unread)


def image(service: str) -> str:
    return COMPOSE["services"][service]["image"]


def test_images_are_the_versions_the_tests_run_against():
    for name, service in COMPOSE["services"].items():
        if "image" in service:
            assert ":" in service["image"] and not service["image"].endswith(":latest"), f"{name} is not pinned"
    version = subprocess.run([str(ps.temporal_bin()), "--version"], capture_output=True, text=True).stdout
    server, ui = re.search(r"Server ([\d.]+), UI ([\d.]+)", version).groups()
    assert image("temporal") == f"temporalio/auto-setup:{server}"
    assert image("temporal-setup") == f"temporalio/admin-tools:{server}"
    assert image("temporal-ui") == f"temporalio/ui:{ui}"
    install = next(Path(ps._pgserver().__file__).parent.glob("pginstall*"))
    postgres = subprocess.run([install / "bin" / "postgres", "--version"], capture_output=True, text=True).stdout
    major = re.search(r"PostgreSQL\) (\d+)", postgres)[1]
    scripts = (install / "share" / "postgresql" / "extension").iterdir()
    vector = max(
        (tuple(map(int, m[1].split("."))) for p in scripts if (m := re.fullmatch(r"vector--([\d.]+)\.sql", p.name))),
    )
    assert image("postgres") == f"pgvector/pgvector:{'.'.join(map(str, vector))}-pg{major}"


def test_the_api_and_worker_have_health_checks_and_restart_policies():
    for service in ("api", "worker", "postgres", "temporal", "temporal-ui"):
        assert COMPOSE["services"][service].get("restart") == "unless-stopped", service
    for service in ("api", "worker"):
        assert COMPOSE["services"][service]["healthcheck"]["test"][0] == "CMD", service
    assert COMPOSE["services"]["worker"]["healthcheck"]["test"][1:] == ["python", "worker.py", "--health"]


def test_the_workers_health_check_answers_from_a_polling_worker(stack):
    def health(task_queue: str) -> int:
        env = {**os.environ, **stack.env(task_queue)}
        return subprocess.run([sys.executable, "worker.py", "--health"], cwd=ROOT, env=env, timeout=60).returncode

    assert health("longrun-test") == 0, "the session's worker polls longrun-test on this host"
    assert health("nobody-polls-this-queue") == 1


# --------------------------------------------------------------------------- interpolation, as compose does it

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class Refused(Exception):
    """What `docker compose` says and stops on: a `${VAR:?message}` whose variable is unset or empty."""


def interpolate(text: str, env: dict[str, str]) -> str:
    """The compose spec's interpolation: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`,
    `${VAR?error}`, `$$` for a dollar."""

    def one(match: re.Match) -> str:
        if match[0] == "$$":
            return "$"
        name = match[1] or match[4]
        op, arg = match[2], match[3] or ""
        value = env.get(name)
        missing = value is None or (value == "" and op and op.startswith(":"))
        if op and op.endswith("?") and missing:
            raise Refused(f"required variable {name} is missing a value: {arg}")
        if op and op.endswith("-") and missing:
            return arg
        return value or ""

    return _VARIABLE.sub(one, text)


def dotenv(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))


def compose_with(env: dict[str, str]) -> dict:
    return yaml.safe_load(interpolate((ROOT / "docker-compose.yml").read_text(), env))


def filled_env(**overrides: str) -> dict[str, str]:
    env = dotenv((ROOT / ".env.example").read_text())
    env.update(LONGRUN_PAYLOAD_KEYS="k1:" + "A" * 43 + "=", LONGRUN_JWT_SECRET="j" * 48, LONGRUN_CODEC_UI_KEY="c" * 32)
    env.update(overrides)
    return env


def test_compose_refuses_an_env_whose_shared_keys_are_empty():
    """Each container would generate its own key: the API and the workers would encrypt under the same key id with
    different keys. The example env as shipped (keys empty) must stop compose, naming what to set."""
    for name in ("LONGRUN_PAYLOAD_KEYS", "LONGRUN_JWT_SECRET"):
        env = filled_env(**{name: ""})
        try:
            compose_with(env)
        except Refused as refused:
            assert name in str(refused)
        else:
            raise AssertionError(f"compose starts with {name} empty")
    services = compose_with(filled_env())["services"]
    for service in OUR_SERVICES:
        environment = services[service]["environment"]
        assert environment["LONGRUN_PAYLOAD_KEYS"] == filled_env()["LONGRUN_PAYLOAD_KEYS"], service
        assert environment["LONGRUN_GENERATE_SECRETS"] == "false", service


def test_the_web_ui_is_read_only_unless_the_env_allows_writes():
    ui = compose_with(filled_env())["services"]["temporal-ui"]["environment"]
    assert ui["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    allowed = compose_with(filled_env(TEMPORAL_DISABLE_WRITE_ACTIONS="false"))["services"]["temporal-ui"]
    assert allowed["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "false"
