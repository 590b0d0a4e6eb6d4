"""The LLM through the real `openai` SDK: OpenAI itself, any compatible server, or the local emulator."""

from typing import TypeVar

from openai import AsyncOpenAI
from pydantic import BaseModel

from settings import Settings

M = TypeVar("M", bound=BaseModel)


class LLMRefusal(Exception):
    """The model declined to answer; retrying the same prompt will not change that."""


class LLMClient:
    def __init__(self, settings: Settings) -> None:
        # Retries belong to Temporal's retry policy, which honours Retry-After and survives crashes.
        self._client = AsyncOpenAI(
            api_key=settings.llm_api_key,
            base_url=settings.llm_base_url,
            max_retries=0,
            timeout=settings.llm_timeout_seconds,
        )
        self.model = settings.llm_model
        self.embedding_model = settings.embedding_model

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

    async def embed(self, texts: list[str]) -> list[list[float]]:
        response = await self._client.embeddings.create(model=self.embedding_model, input=texts)
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

    async def close(self) -> None:
        await self._client.close()
