"""The tracker's LLM providers as clients: one `LLMClient` per endpoint, built once per process.

A provider row names its server, models and the environment variable holding its key (`api_key_env`); the key
itself is read here, in the process that calls the server, and never stored. A provider edited to another server
or key gets a new client; the old one stays until the process ends (providers change rarely, a pool is small).
"""

import os
from typing import Protocol

from clients.llm import Endpoint, LLMClient
from settings import Settings

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


def endpoint_of(provider: ProviderLike) -> Endpoint:
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
        endpoint = endpoint_of(provider)
        if endpoint not in self._clients:
            self._clients[endpoint] = LLMClient(self._settings, endpoint)
        return self._clients[endpoint]

    async def embed(self, provider: ProviderLike, texts: list[str]) -> list[list[float]]:
        """The provider's vectors for `texts`, in their order, in one request, asked for the size it should give."""
        return await self.client(provider).embed(texts, dimensions=requested_dimensions(provider))

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
