"""The tracker's LLM providers as clients: one `LLMClient` per endpoint, built once per process.

A provider row names its server, models and the environment variable holding its key (`api_key_env`); the key
itself is read here, in the process that calls the server, and never stored. A provider edited to another server
or key gets a new client; the old one stays until the process ends (providers change rarely, a pool is small).

A row is typed by an admin, so what it may reach is bounded: its server must be on a public address, or the LLM
server the deployment was configured with (OPENAI_BASE_URL), or in LONGRUN_OUTSIDE_HOSTS_ALLOWED; and its key
variable must be one `key_env_allowed` names, else any variable (LONGRUN_DATABASE_URL) could go out as a Bearer
token to the row's host. Both are checked when the row is saved (422) and again here, for rows saved before.
"""

import os
from typing import Protocol

from clients.llm import Endpoint, LLMClient, LLMEndpointRefused
from clients.outside_http import service_allowlist
from settings import Settings

# Key variables a deployment adds for its providers follow this convention; others must be listed.
KEY_ENV_PREFIX = "LONGRUN_LLM_KEY_"

# Servers that need no key (the emulator, Ollama) still get one: the SDK refuses to start without it.
NO_KEY = "unset"
# OpenAI's older embedding model has one size and refuses `dimensions`, even its own.
FIXED_SIZE_MODELS = frozenset({"text-embedding-ada-002"})


class ProviderLike(Protocol):
    kind: str
    base_url: str
    api_key_env: str | None
    chat_model: str
    embedding_model: str
    embedding_dimension: int


def key_env_allowed(name: str, settings: Settings) -> bool:
    """May a provider's key be read from the variable `name`: one listed in LONGRUN_LLM_KEY_ENVS_ALLOWED, or one
    named LONGRUN_LLM_KEY_<something>."""
    listed = {item for item in settings.llm_key_envs_allowed.replace(",", " ").split() if item}
    return name in listed or (name.startswith(KEY_ENV_PREFIX) and len(name) > len(KEY_ENV_PREFIX))


def endpoint_of(provider: ProviderLike, settings: Settings) -> Endpoint:
    if provider.api_key_env and not key_env_allowed(provider.api_key_env, settings):
        raise LLMEndpointRefused(
            f"refused: api_key_env {provider.api_key_env!r} is not a key variable providers may use "
            f"(LONGRUN_LLM_KEY_ENVS_ALLOWED, or a name starting {KEY_ENV_PREFIX})"
        )
    key = os.environ.get(provider.api_key_env, "") if provider.api_key_env else ""
    return Endpoint(provider.base_url, key or NO_KEY, provider.chat_model, provider.embedding_model)


def requested_dimensions(provider: ProviderLike) -> int | None:
    """The size to ask for: OpenAI's shortenable models are asked for the provider's; Ollama's OpenAI-compatible
    endpoint gives its model's own size whatever is asked, so it is asked nothing."""
    if provider.kind != "openai" or provider.embedding_model in FIXED_SIZE_MODELS:
        return None
    return provider.embedding_dimension


class ProviderClients:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[Endpoint, LLMClient] = {}

    def client(self, provider: ProviderLike) -> LLMClient:
        endpoint = endpoint_of(provider, self._settings)
        if endpoint not in self._clients:
            # A row reaches public servers, the allowed hosts and the configured LLM server, nothing else inside.
            allowlist = service_allowlist(self._settings, self._settings.llm_base_url)
            self._clients[endpoint] = LLMClient(self._settings, endpoint, allowlist)
        return self._clients[endpoint]

    async def embed(self, provider: ProviderLike, texts: list[str]) -> list[list[float]]:
        """The provider's vectors for `texts`, in their order, in one request, asked for the size it should give."""
        return await self.client(provider).embed(texts, dimensions=requested_dimensions(provider))

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
