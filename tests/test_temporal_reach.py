"""Reaching any Temporal by configuration alone (runtime/temporal_config.py): Temporal's own TEMPORAL_* variables and
profiles, under Longrun's LONGRUN_TEMPORAL_* when those are set; a real mTLS connection through a TLS front, a job run
through it; the namespace's search attributes registered on a self-hosted cluster, and on Temporal Cloud the `tcld`
command named instead."""

import os
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import TLSConfig

from devstack import processes as ps
from devstack.clients import Api, eventually
from devstack.stack import ADMIN_PASSWORD
from runtime.search_attributes import SearchAttributesMissing, ensure_search_attributes, required, tcld_command
from runtime.temporal import CONNECT_ERRORS, connect
from runtime.temporal_config import TemporalTarget
from settings import Settings
from tests.support.news import discover, make_sources
from tests.support.tls_front import SERVER_NAME, TlsFront, make_pki
from workflows.base import JOB_ATTRIBUTES

REQUIRED = required(JOB_ATTRIBUTES)
API_KEY = "tmprl-test-api-key-" + "k" * 24
CLOUD_PROFILE = f"""
[profile.default]
address = "self-hosted.internal:7233"

[profile.cloud]
address = "prod.a1b2c.tmprl.cloud:7233"
namespace = "prod.a1b2c"
api_key = "{API_KEY}"
"""


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No TEMPORAL_* of the machine's, and no ~/.config/temporalio/temporal.toml: what each test sets is all."""
    for name in list(os.environ):
        if name.startswith(("TEMPORAL_", "LONGRUN_TEMPORAL_")):
            monkeypatch.delenv(name)
    # conftest turns Temporal's configuration off for the session's clients; these tests are about it.
    monkeypatch.setenv("LONGRUN_TEMPORAL_ENVCONFIG", "true")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    return monkeypatch


# --------------------------------------------------------------------------- which settings win (pure)


def test_with_nothing_set_it_is_the_embedded_stack(clean_env):
    settings = Settings(_env_file=None)
    assert (settings.temporal_address, settings.temporal_namespace) == ("127.0.0.1:7233", "default")
    assert settings.temporal.connect_options() == {}
    assert not settings.temporal.tls


def test_temporal_variables_are_read_and_longrun_ones_win_over_them(clean_env):
    clean_env.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    clean_env.setenv("TEMPORAL_NAMESPACE", "longrun-prod")
    settings = Settings(_env_file=None)
    assert (settings.temporal_address, settings.temporal_namespace) == ("temporal.internal:7233", "longrun-prod")

    # A copy for another namespace connects to that one: the fields, not a stale resolution, say where.
    assert settings.model_copy(update={"temporal_namespace": "other"}).temporal.namespace == "other"

    clean_env.setenv("LONGRUN_TEMPORAL_NAMESPACE", "longrun-staging")
    settings = Settings(_env_file=None)
    assert (settings.temporal_address, settings.temporal_namespace) == ("temporal.internal:7233", "longrun-staging")
    clean_env.setenv("LONGRUN_TEMPORAL_ADDRESS", "10.0.0.7:7233")
    assert Settings(_env_file=None).temporal_address == "10.0.0.7:7233"
    # Set but empty is unset: a compose file passing `${LONGRUN_TEMPORAL_ADDRESS:-}` leaves Temporal's to decide.
    clean_env.setenv("LONGRUN_TEMPORAL_ADDRESS", "")
    assert Settings(_env_file=None).temporal_address == "temporal.internal:7233"

    # The embedded stack's processes ignore Temporal's configuration altogether (devstack sets this).
    clean_env.setenv("TEMPORAL_API_KEY", API_KEY)
    embedded = Settings(_env_file=None, temporal_envconfig=False, temporal_address="127.0.0.1:7300")
    assert embedded.temporal_namespace == "longrun-staging" and embedded.temporal.connect_options() == {}
    devstack_env = ps.stack_env(database_url="x", temporal_address="a:1", data_dir=Path("/d"), base={})
    assert devstack_env["LONGRUN_TEMPORAL_ENVCONFIG"] == "false"


def test_a_profile_of_the_config_file_brings_temporal_cloud_with_its_api_key(clean_env, tmp_path):
    config = tmp_path / "temporal.toml"
    config.write_text(CLOUD_PROFILE)
    clean_env.setenv("TEMPORAL_CONFIG_FILE", str(config))
    assert Settings(_env_file=None).temporal_address == "self-hosted.internal:7233"

    clean_env.setenv("TEMPORAL_PROFILE", "cloud")
    settings = Settings(_env_file=None)
    assert (settings.temporal_address, settings.temporal_namespace) == ("prod.a1b2c.tmprl.cloud:7233", "prod.a1b2c")
    # An API key turns TLS on (the system's roots) and goes to Client.connect...
    assert settings.temporal.connect_options() == {"api_key": API_KEY, "tls": True}
    assert settings.temporal.cloud
    # ...and nowhere a log or an error could show it.
    assert API_KEY not in repr(settings) and API_KEY not in str(settings.model_dump())
    assert API_KEY not in repr(settings.temporal) and API_KEY not in settings.temporal.describe()
    assert settings.temporal.describe() == "prod.a1b2c.tmprl.cloud:7233 (namespace prod.a1b2c, TLS, API key)"

    clean_env.setenv("TEMPORAL_PROFILE", "clould")
    with pytest.raises(ValidationError, match="Profile 'clould' not found"):
        Settings(_env_file=None)
    clean_env.setenv("TEMPORAL_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ValidationError, match="TEMPORAL_CONFIG_FILE names .*missing.toml, which is not a file"):
        Settings(_env_file=None)


def test_tls_variables_become_the_connections_tls(clean_env, tmp_path):
    pki = make_pki(tmp_path / "pki")
    clean_env.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(pki.ca))
    clean_env.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(pki.client_cert))
    clean_env.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(pki.client_key))
    clean_env.setenv("TEMPORAL_TLS_SERVER_NAME", SERVER_NAME)
    clean_env.setenv("TEMPORAL_API_KEY", API_KEY)
    options = Settings(_env_file=None).temporal.connect_options()
    assert options["api_key"] == API_KEY
    assert options["tls"] == TLSConfig(
        domain=SERVER_NAME,
        server_root_ca_cert=pki.ca.read_bytes(),
        client_cert=pki.client_cert.read_bytes(),
        client_private_key=pki.client_key.read_bytes(),
    )
    assert "client certificate" in Settings(_env_file=None).temporal.describe()

    clean_env.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(tmp_path / "nope.key"))
    with pytest.raises(ValidationError, match="TEMPORAL_TLS_CLIENT_KEY_PATH .* names .*nope.key, which is not a file"):
        Settings(_env_file=None)
    clean_env.delenv("TEMPORAL_TLS_CLIENT_KEY_PATH")
    with pytest.raises(ValidationError, match="a TLS client certificate needs its key"):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    ("address", "cloud"),
    [
        ("prod.a1b2c.tmprl.cloud:7233", True),
        ("us-east-1.aws.api.temporal.io:7233", True),
        ("PROD.A1B2C.TMPRL.CLOUD:7233", True),
        ("temporal.internal:7233", False),
        ("tmprl.cloud.example.com:7233", False),
        ("127.0.0.1:7233", False),
    ],
)
def test_temporal_cloud_is_told_by_its_address(address, cloud):
    assert TemporalTarget(address=address, namespace="n").cloud is cloud


def test_the_tcld_command_names_the_namespace_and_each_attribute():
    assert tcld_command("prod.a1b2c", REQUIRED) == (
        "tcld namespace search-attributes add --namespace prod.a1b2c "
        '--search-attribute "JobType=Keyword" --search-attribute "JobOwner=Keyword" '
        '--search-attribute "JobStatus=Keyword"'
    )
    # The embedded stack registers the same ones through the CLI.
    assert ps.SEARCH_ATTRIBUTES == dict.fromkeys(REQUIRED, "Keyword")


# --------------------------------------------------------------------------- search attributes (dev server)


async def new_namespace(stack) -> str:
    name = f"reach-{uuid.uuid4().hex[:8]}"
    client = await connect(Settings(_env_file=None, temporal_address=stack.temporal_address, temporal_envconfig=False))
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period={"seconds": 86400})
    )
    return name


async def custom_attributes(client: Client, namespace: str) -> dict[str, int]:
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    return dict(listed.custom_attributes)


async def namespace_client(stack, namespace: str) -> Client:
    settings = Settings(
        _env_file=None, temporal_address=stack.temporal_address, temporal_namespace=namespace, temporal_envconfig=False
    )

    async def reachable():  # a namespace just registered takes a moment to be served
        try:
            client = await connect(settings)
            await custom_attributes(client, namespace)
            return client
        except CONNECT_ERRORS:
            return None

    return await eventually(reachable, f"namespace {namespace} to be served", within=30)


async def test_a_self_hosted_namespace_gets_its_missing_search_attributes(stack):
    namespace = await new_namespace(stack)
    client = await namespace_client(stack, namespace)
    assert not set(REQUIRED) & set(await custom_attributes(client, namespace))
    target = TemporalTarget(address=stack.temporal_address, namespace=namespace)
    assert sorted(await ensure_search_attributes(client, target, REQUIRED)) == sorted(REQUIRED)
    assert {name: kind for name, kind in (await custom_attributes(client, namespace)).items() if name in REQUIRED} == (
        REQUIRED
    )
    assert await ensure_search_attributes(client, target, REQUIRED) == []  # the next worker finds them


async def test_on_temporal_cloud_nothing_is_tried_and_the_tcld_command_is_named(stack):
    namespace = await new_namespace(stack)
    client = await namespace_client(stack, namespace)
    cloud = TemporalTarget(address=f"{namespace}.a1b2c.tmprl.cloud:7233", namespace=namespace)
    with pytest.raises(SearchAttributesMissing) as refused:
        await ensure_search_attributes(client, cloud, REQUIRED)
    assert tcld_command(namespace, REQUIRED) in str(refused.value)
    assert not set(REQUIRED) & set(await custom_attributes(client, namespace)), "Cloud's path must not register"


# --------------------------------------------------------------------------- a real mTLS connection


def tls_env(front: TlsFront, pki, namespace: str, **more: str) -> dict[str, str]:
    """A deployment's environment naming Temporal by TEMPORAL_* alone (the stack's own LONGRUN_* address cleared)."""
    return {
        "LONGRUN_TEMPORAL_ADDRESS": "",
        "LONGRUN_TEMPORAL_ENVCONFIG": "true",
        "TEMPORAL_ADDRESS": f"{ps.HOST}:{front.port}",
        "TEMPORAL_NAMESPACE": namespace,
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(pki.ca),
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(pki.client_cert),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(pki.client_key),
        "TEMPORAL_TLS_SERVER_NAME": SERVER_NAME,
        **more,
    }


async def test_a_worker_and_the_api_reach_temporal_over_mtls_by_temporal_variables_alone(stack, admin, tmp_path):
    pki = make_pki(tmp_path / "pki")
    namespace = await new_namespace(stack)
    queue = f"reach-{uuid.uuid4().hex[:6]}"
    with TlsFront(pki, stack.temporal.port) as front:
        # The API key too: it goes as a header the dev server ignores, and must not stop the connection.
        env = tls_env(front, pki, namespace, TEMPORAL_API_KEY=API_KEY)
        worker = stack.start_worker("worker-reach", task_queue=queue, wait=False, env=env)
        try:
            # Started in a namespace without Longrun's search attributes: the worker registers them, then polls.
            ps.wait_worker_polling(stack.temporal_address, queue, worker.pid, 90, worker, namespace)
            url = stack.start_api("api-reach", task_queue=queue, env=env)
            api = await Api.login(url, "admin", ADMIN_PASSWORD)
            try:
                assert (await api.ok("GET", "/api/v1/config"))["temporal_namespace"] == namespace
                job_id = await discover(api, await make_sources(admin, stack, 1, items=2))
                assert (await api.wait_job(job_id))["status"] == "completed"
            finally:
                await api.close()
        finally:
            stack.stop_named("api-reach", "worker-reach")
        assert front.verified_clients >= 2, "the worker and the API came through the front"

        # The job ran in that namespace, where the worker registered the attributes.
        client = await namespace_client(stack, namespace)
        assert set(REQUIRED) <= set(await custom_attributes(client, namespace))
        assert (await client.get_workflow_handle(job_id).describe()).status.name == "COMPLETED"

        # Without the client certificate the front refuses, as a cluster requiring mTLS does.
        no_cert = {k: v for k, v in env.items() if not k.startswith("TEMPORAL_TLS_CLIENT_")}
        with pytest.MonkeyPatch.context() as patch:
            for name, value in no_cert.items():
                patch.setenv(name, value)
            with pytest.raises(CONNECT_ERRORS):
                await connect(Settings(_env_file=None))
            for name in ("TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH"):
                patch.setenv(name, env[name])
            assert (await connect(Settings(_env_file=None))).namespace == namespace  # the certificate was the cause

    logs = "".join(path.read_text(errors="replace") for path in stack.logs.glob("*-reach.log"))
    assert f"{ps.HOST}:{front.port}" in logs, "the logs say where Temporal is"
    assert API_KEY not in logs and pki.client_key.read_text().splitlines()[1] not in logs
