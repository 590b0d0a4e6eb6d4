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


def test_every_variable_compose_sets_for_our_services_is_read_by_settings():
    known = settings_variables()
    for service in OUR_SERVICES:
        environment = COMPOSE["services"][service].get("environment", {})
        assert environment, f"{service} sets no environment (the x-longrun anchor was lost?)"
        unknown = set(environment) - known
        assert not unknown, f"{service} sets variables settings.py does not read: {sorted(unknown)}"


def test_every_variable_of_the_env_example_is_read_by_settings():
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    assert {"LONGRUN_PAYLOAD_KEYS", "LONGRUN_JWT_SECRET"} <= named
    assert not named - settings_variables(), sorted(named - settings_variables())


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
