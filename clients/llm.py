"""The LLM through the real `openai` SDK: OpenAI itself, any compatible server, or the local emulator."""

from dataclasses import dataclass
from typing import TypeVar

from openai import AsyncOpenAI
from pydantic import BaseModel

from settings import Settings

M = TypeVar("M", bound=BaseModel)


class LLMRefusal(Exception):
    """The model declined to answer; retrying the same prompt will not change that."""


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
    def __init__(self, settings: Settings, endpoint: Endpoint | None = None) -> None:
        endpoint = endpoint or Endpoint.configured(settings)
        # Retries belong to Temporal's retry policy, which honours Retry-After and survives crashes.
        self._client = AsyncOpenAI(
            api_key=endpoint.api_key, base_url=endpoint.base_url, max_retries=0, timeout=settings.llm_timeout_seconds
        )
        self.model = endpoint.model
        self.embedding_model = endpoint.embedding_model

    async def parse(self, system: str, user: str, schema: type[M], model: str | None = None) -> M:
        """One chat completion whose answer must validate against `schema` (structured outputs); `model`, unless
        empty, overrides the configured one (an agent config may name its own)."""
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
        completion = await self._client.chat.completions.create(
            model=self.model,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        )
        return completion.choices[0].message.content or ""

    async def embed(self, texts: list[str], dimensions: int | None = None) -> list[list[float]]:
        """One request for every text, in their order; `dimensions` asks a model that can shorten its vectors
        (OpenAI's text-embedding-3) for that size."""
        extra = {"dimensions": dimensions} if dimensions is not None else {}
        response = await self._client.embeddings.create(model=self.embedding_model, input=texts, **extra)
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

    async def close(self) -> None:
        await self._client.close()
