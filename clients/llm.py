"""The LLM through the real `openai` SDK: OpenAI itself, any compatible server, or the local emulator."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import openai
from openai import AsyncOpenAI
from pydantic import BaseModel

from clients.outside_http import Allowlist, BodyCap, OutsideRefused, outside_client, service_allowlist
from settings import Settings

M = TypeVar("M", bound=BaseModel)


class LLMRefusal(Exception):
    """The model declined to answer; retrying the same prompt will not change that."""


class LLMEndpointRefused(openai.OpenAIError):
    """The server or key is one this deployment does not let an LLM call use (an internal address, an answer past
    the cap, a key variable not allowed): final, and an `OpenAIError` so every caller's LLM handling takes it."""


@contextmanager
def _refusals() -> Iterator[None]:
    # A refusal reaches here as itself, or wrapped by the SDK as a connection error, which would be retried.
    try:
        yield
    except OutsideRefused as exc:
        raise LLMEndpointRefused(str(exc)) from exc
    except openai.APIConnectionError as exc:
        if isinstance(exc.__cause__, OutsideRefused):
            raise LLMEndpointRefused(str(exc.__cause__)) from exc.__cause__
        raise


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible server: where, with which key and which models. The configured one by default, or
    another (a tracker `LLMProvider`)."""

    base_url: str | None  # None: OpenAI's own
    api_key: str
    model: str
    embedding_model: str

    @classmethod
    def configured(cls, settings: Settings) -> "Endpoint":
        return cls(settings.llm_base_url, settings.llm_api_key, settings.llm_model, settings.embedding_model)


class LLMClient:
    def __init__(
        self, settings: Settings, endpoint: Endpoint | None = None, allowlist: Allowlist | None = None
    ) -> None:
        """`allowlist`: what the client may reach besides public addresses; by default the configured LLM server
        (the operator chose it), which is also what a provider row may reach (clients/providers.py)."""
        endpoint = endpoint or Endpoint.configured(settings)
        if allowlist is None:
            allowlist = service_allowlist(settings, settings.llm_base_url)
        http = outside_client(
            allowlist,
            BodyCap(settings.answer_max_bytes, "LONGRUN_ANSWER_MAX_BYTES"),
            max_redirects=settings.outside_max_redirects,
            timeout=settings.llm_timeout_seconds,
        )
        # Retries belong to Temporal's retry policy, which honours Retry-After and survives crashes.
        self._client = AsyncOpenAI(
            api_key=endpoint.api_key,
            base_url=endpoint.base_url,
            max_retries=0,
            timeout=settings.llm_timeout_seconds,
            # openai accepts an httpx client as well as its httpx2 one; only the latter is in its annotation.
            http_client=http,  # pyright: ignore[reportArgumentType]
        )
        self.model = endpoint.model
        self.embedding_model = endpoint.embedding_model

    async def parse(self, system: str, user: str, schema: type[M], model: str | None = None) -> M:
        """One chat completion whose answer must validate against `schema` (structured outputs); `model`, unless
        empty, overrides the configured one (an agent config may name its own)."""
        with _refusals():
            completion = await self._client.chat.completions.parse(
                model=model or self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                response_format=schema,
            )
        message = completion.choices[0].message
        if message.parsed is None:
            raise LLMRefusal(message.refusal or "the model returned no parsable answer")
        return message.parsed

    async def complete(self, system: str, user: str) -> str:
        with _refusals():
            completion = await self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            )
        return completion.choices[0].message.content or ""

    async def embed(self, texts: list[str], dimensions: int | None = None) -> list[list[float]]:
        """One request for every text, in their order; `dimensions` asks a model that can shorten its vectors
        (OpenAI's text-embedding-3) for that size."""
        sized = dimensions if dimensions is not None else openai.omit
        with _refusals():
            response = await self._client.embeddings.create(model=self.embedding_model, input=texts, dimensions=sized)
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

    async def close(self) -> None:
        await self._client.close()
