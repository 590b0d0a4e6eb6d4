"""Where Temporal is and how to reach it, resolved in this one place for every process (worker, API, tools, benches).

Temporal's own environment configuration (`temporalio.envconfig`), read as the `temporal` CLI and every SDK read it:
TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS and TEMPORAL_TLS_* (server CA, client certificate
and key, as a path or the PEM itself, and the server name), TEMPORAL_GRPC_META_*, and a profile (TEMPORAL_PROFILE,
default "default") of the TOML file TEMPORAL_CONFIG_FILE (default ~/.config/temporalio/temporal.toml), the
environment winning over the file. So a cluster with mTLS, or Temporal Cloud with an API key, needs configuration only.

Longrun's own LONGRUN_TEMPORAL_ADDRESS and LONGRUN_TEMPORAL_NAMESPACE, when set (non-empty), win over both: they
are what `make up`, the tests and existing deployments set. Unset everywhere: the embedded 127.0.0.1:7233, "default".
TLS, the API key and gRPC metadata come from Temporal's configuration alone.

Secrets (the API key, a client key) stay inside `TemporalTarget`: its repr and `describe()` never show them, and
they go to `Client.connect` only, never into a workflow's input.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.bridge.temporal_sdk_bridge import envconfig as _bridge_envconfig
from temporalio.envconfig import ClientConfigProfile

DEFAULT_ADDRESS = "127.0.0.1:7233"
DEFAULT_NAMESPACE = "default"
# Temporal Cloud's endpoints: <namespace>.<account>.tmprl.cloud:7233, or <region>.<cloud>.api.temporal.io:7233
# for API-key access (docs.temporal.io/cloud/namespaces#access-namespaces).
CLOUD_HOST_SUFFIXES = (".tmprl.cloud", ".api.temporal.io")


class TemporalConfigError(ValueError):
    """Temporal's configuration cannot be used as given (a profile or file that is named but missing)."""


@dataclass(frozen=True)
class TemporalTarget:
    address: str
    namespace: str
    # The loaded profile holds the API key and where the TLS material is: never in a repr.
    profile: ClientConfigProfile = field(default_factory=ClientConfigProfile, repr=False)

    @property
    def tls(self) -> bool:
        # As ClientConfigProfile.to_client_connect_config decides, without reading the certificate files.
        if self.profile.tls is not None:
            return self.profile.tls.disabled is not True
        return self.profile.api_key is not None

    @property
    def has_api_key(self) -> bool:
        return bool(self.profile.api_key)

    @property
    def cloud(self) -> bool:
        host = self.address.rpartition(":")[0] or self.address
        return host.lower().rstrip(".").endswith(CLOUD_HOST_SUFFIXES)

    def connect_options(self) -> dict[str, Any]:
        """`Client.connect`'s api_key, tls and rpc_metadata. TLS files are read here, at each connect, so a
        certificate rotated on disk is used by the next connection without a restart."""
        options = dict(self.profile.to_client_connect_config())
        options.pop("target_host", None)
        options.pop("namespace", None)
        return options

    def describe(self) -> str:
        """For logs: where, and how, never with what."""
        how = [f"namespace {self.namespace}", "TLS" if self.tls else "no TLS"]
        if self.profile.tls is not None and self.profile.tls.client_cert is not None:
            how.append("client certificate")
        if self.has_api_key:
            how.append("API key")
        return f"{self.address} ({', '.join(how)})"


def resolve(
    address: str | None = None,
    namespace: str | None = None,
    *,
    use_envconfig: bool = True,
    environ: Mapping[str, str] | None = None,
) -> TemporalTarget:
    """The target: `address` and `namespace` (Longrun's own settings, None or empty when unset) over Temporal's
    environment configuration (`environ`, default the process's) over the embedded defaults."""
    profile = load_profile(environ) if use_envconfig else ClientConfigProfile()
    return TemporalTarget(
        address=address or profile.address or DEFAULT_ADDRESS,
        namespace=namespace or profile.namespace or DEFAULT_NAMESPACE,
        profile=profile,
    )


def load_profile(environ: Mapping[str, str] | None = None) -> ClientConfigProfile:
    env = dict(os.environ if environ is None else environ)
    named_file = env.get("TEMPORAL_CONFIG_FILE")
    # The SDK quietly ignores a named file that is not there; a typo would then connect somewhere else.
    if named_file and not Path(named_file).is_file():
        raise TemporalConfigError(f"TEMPORAL_CONFIG_FILE names {named_file}, which is not a file")
    try:
        profile = ClientConfigProfile.load(override_env_vars=env)
    except _bridge_envconfig.ConfigError as exc:
        raise TemporalConfigError(f"Temporal's client configuration (TEMPORAL_PROFILE, the TOML file): {exc}") from exc
    tls = profile.tls
    if tls is not None:
        for variable, source in (
            ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", tls.server_root_ca_cert),
            ("TEMPORAL_TLS_CLIENT_CERT_PATH", tls.client_cert),
            ("TEMPORAL_TLS_CLIENT_KEY_PATH", tls.client_private_key),
        ):
            # Said once at start rather than as a FileNotFoundError inside every connection attempt.
            if isinstance(source, Path) and not source.is_file():
                raise TemporalConfigError(f"{variable} (or the profile's path) names {source}, which is not a file")
    if (tls is None or tls.client_cert is None) != (tls is None or tls.client_private_key is None):
        raise TemporalConfigError("a TLS client certificate needs its key, and a key its certificate")
    return profile


# The variables Temporal's environment configuration reads (docs.temporal.io/references/client-environment-
# configuration), for checks that every variable a deployment file sets is read by someone (tests/test_compose.py).
ENV_VARIABLES = frozenset(
    {
        "TEMPORAL_CONFIG_FILE",
        "TEMPORAL_PROFILE",
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "TEMPORAL_API_KEY",
        "TEMPORAL_TLS",
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_CERT_DATA",
        "TEMPORAL_TLS_CLIENT_KEY_PATH",
        "TEMPORAL_TLS_CLIENT_KEY_DATA",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
        "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
        "TEMPORAL_TLS_SERVER_NAME",
    }
)


def reads(variable: str) -> bool:
    """Whether Temporal's environment configuration reads `variable` (gRPC metadata takes any TEMPORAL_GRPC_META_*)."""
    return variable in ENV_VARIABLES or variable.startswith("TEMPORAL_GRPC_META_")
