"""docker-compose.yml against the code and the tests: every variable it (and .env.example) sets is one settings.py
reads, its images are the versions the tests run against, its worker services serve every queue kind once, the
namespace is one variable from Temporal's setup to the Web UI, and the API and workers have health checks and restart
policies, the workers' check answering from a real worker. No container runtime can pull images here: the file is
checked by its structure, interpolated as compose does it."""

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import yaml
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from devstack import processes as ps
from runtime import temporal_config
from runtime.queues import QueueKind
from settings import ROOT, Settings

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
WORKER = ["python", "worker.py"]
WORKERS = tuple(name for name, service in COMPOSE["services"].items() if service.get("command") == WORKER)
OUR_SERVICES = ("migrate", *WORKERS, "api")


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
    # temporalio/auto-setup is deprecated and no longer built: the server, with admin-tools setting up its schema.
    assert image("temporal") == f"temporalio/server:{server}"
    assert image("temporal-schema") == f"temporalio/admin-tools:{server}"
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


def test_the_api_and_workers_have_health_checks_and_restart_policies():
    assert WORKERS, "compose runs no worker"
    for service in ("api", *WORKERS, "postgres", "temporal", "temporal-ui"):
        assert COMPOSE["services"][service].get("restart") == "unless-stopped", service
    for service in ("api", *WORKERS, "temporal"):
        assert COMPOSE["services"][service]["healthcheck"]["test"][0] == "CMD", service
    for service in WORKERS:
        assert COMPOSE["services"][service]["healthcheck"]["test"][1:] == ["python", "worker.py", "--health"]


def served_kinds(service: str) -> list[str]:
    return [kind.strip() for kind in COMPOSE["services"][service]["environment"]["LONGRUN_WORKER_QUEUES"].split(",")]


def test_every_queue_kind_is_served_by_exactly_one_worker_service():
    """Each kind scales on its own: a worker service per kind, none left unserved, none unknown to the code."""
    served = [kind for service in WORKERS for kind in served_kinds(service)]
    unknown = set(served) - {kind.value for kind in QueueKind}
    assert not unknown, f"worker services serve kinds runtime/queues.py does not name: {sorted(unknown)}"
    assert sorted(served) == sorted(kind.value for kind in QueueKind), f"each kind once: {served}"


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(ms|s|m|h)", duration))


def test_a_stopping_worker_is_given_its_graceful_shutdown_before_the_kill():
    for service in WORKERS:
        spec = COMPOSE["services"][service]
        shutdown = float(spec["environment"]["LONGRUN_WORKER_SHUTDOWN_SECONDS"])
        assert seconds(spec["stop_grace_period"]) > shutdown, f"{service} is killed before its activities finish"


def test_every_replica_sees_the_same_shared_directory():
    """A Desktop export checked by the API is read by a worker; an avatar a worker fetched is served by the API."""
    mounts = set()
    for service in OUR_SERVICES:
        spec = COMPOSE["services"][service]
        path = spec["environment"]["LONGRUN_SHARED_DIR"]
        volume = next((v.split(":")[0] for v in spec.get("volumes", []) if v.split(":")[1] == path), None)
        assert volume in COMPOSE["volumes"], f"{service} mounts no named volume at LONGRUN_SHARED_DIR ({path})"
        mounts.add((volume, path))
    assert len(mounts) == 1, f"one volume at one path for every replica: {mounts}"


def test_the_api_takes_its_trusted_proxies_from_the_env():
    api = compose_with(filled_env(LONGRUN_FORWARDED_ALLOW_IPS="10.0.0.0/8"))["services"]["api"]["environment"]
    assert api["LONGRUN_FORWARDED_ALLOW_IPS"] == "10.0.0.0/8"
    assert compose_with(filled_env())["services"]["api"]["environment"]["LONGRUN_FORWARDED_ALLOW_IPS"] == ""
    assert "LONGRUN_FORWARDED_ALLOW_IPS" in (ROOT / "Dockerfile").read_text()


def test_one_namespace_variable_reaches_the_setup_the_clients_and_the_web_ui():
    services = compose_with(filled_env(LONGRUN_TEMPORAL_NAMESPACE="team-jobs"))["services"]
    for service in OUR_SERVICES:
        assert services[service]["environment"]["LONGRUN_TEMPORAL_NAMESPACE"] == "team-jobs", service
    assert services["temporal-ui"]["environment"]["TEMPORAL_DEFAULT_NAMESPACE"] == "team-jobs"
    assert services["temporal-setup"]["environment"]["NAMESPACE"] == "team-jobs"


def setup_script() -> str:
    return "\n".join(compose_with(filled_env())["services"]["temporal-setup"]["command"])


def test_the_setup_creates_the_namespace_with_its_retention_and_registers_the_search_attributes_in_it():
    script = setup_script()
    # Create or update, so a changed retention reaches an existing namespace.
    for verb in ("create", "update"):
        assert re.search(rf'namespace {verb} --namespace "\$NAMESPACE" --retention "\$RETENTION"', script), verb
    registers = [line for line in script.splitlines() if "search-attribute create" in line]
    assert registers and all('--namespace "$NAMESPACE"' in line for line in registers), registers
    assert re.search(r"for name in JobType JobOwner JobStatus;", script)
    setup = compose_with(filled_env(TEMPORAL_NAMESPACE_RETENTION="48h"))["services"]["temporal-setup"]
    assert setup["environment"]["RETENTION"] == "48h"
    assert compose_with(filled_env())["services"]["temporal-setup"]["environment"]["RETENTION"] == "720h"


def test_temporals_schema_is_set_up_before_the_server_starts():
    services = COMPOSE["services"]
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    # As compose runs it: `$$` is a dollar for the shell.
    script = "\n".join(compose_with(filled_env())["services"]["temporal-schema"]["command"])
    assert "for db in temporal temporal_visibility" in script
    for step in ("create", "setup-schema -v 0.0"):
        assert f"$sql {step}" in script
    for schema in ("temporal", "visibility"):
        assert f'update-schema -d "$SCHEMA_DIR/{schema}/versioned"' in script
    assert services["temporal-schema"]["environment"]["SCHEMA_DIR"] == "/etc/temporal/schema/postgresql/v12"
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    # The server image has no dynamic config file of its own at the path it reads by default.
    source, target, _ = services["temporal"]["volumes"][0].split(":")
    assert (ROOT / source).is_file() and target == services["temporal"]["environment"]["DYNAMIC_CONFIG_FILE_PATH"]


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


def test_secrets_can_be_files_named_like_their_variables(tmp_path, monkeypatch):
    """How an orchestrator hands secrets over (compose or Swarm `secrets:`, a Kubernetes Secret volume): one file per
    variable in LONGRUN_SECRETS_DIR. A variable set in the environment still wins."""
    key = "k1:" + "A" * 43 + "="
    (tmp_path / "LONGRUN_JWT_SECRET").write_text("j" * 48 + "\n")
    (tmp_path / "LONGRUN_PAYLOAD_KEYS").write_text(key)
    monkeypatch.setenv("LONGRUN_SECRETS_DIR", str(tmp_path))
    for name in ("LONGRUN_JWT_SECRET", "LONGRUN_PAYLOAD_KEYS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.without_env_file()
    assert settings.jwt_secret == "j" * 48
    assert settings.payload_keys.get_secret_value() == key
    monkeypatch.setenv("LONGRUN_JWT_SECRET", "from-the-environment")
    assert Settings.without_env_file().jwt_secret == "from-the-environment"


async def test_the_setup_script_sets_up_a_namespace_on_a_real_temporal(stack):
    """compose's temporal-setup, as compose would run it, with the same CLI (the dev server's, same Server version) as
    admin-tools carries, against the session's Temporal: twice, as every `up` runs it, the second time with a new
    retention."""
    namespace = f"compose-{os.getpid()}"
    path = f"{ps.temporal_bin().parent}{os.pathsep}{os.environ['PATH']}"

    def run_setup(retention: str) -> None:
        setup = compose_with(filled_env(LONGRUN_TEMPORAL_NAMESPACE=namespace, TEMPORAL_NAMESPACE_RETENTION=retention))
        service = setup["services"]["temporal-setup"]
        env = {**os.environ, **service["environment"], "TEMPORAL_ADDRESS": stack.temporal_address, "PATH": path}
        done = subprocess.run([*service["entrypoint"], *service["command"]], env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()

    run_setup("48h")
    run_setup("72h")
    client = await Client.connect(stack.temporal_address)
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    assert described.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(hours=72)
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    assert {"JobType", "JobOwner", "JobStatus"} <= set(listed.custom_attributes)
