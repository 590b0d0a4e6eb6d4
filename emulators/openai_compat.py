"""An OpenAI-compatible API on loopback, so the real ``openai`` SDK runs offline and deterministically.

Chat completions answer from the last user message: with a ``json_schema`` response format the content is a
document valid against the schema (see ``emulators.schema_fill`` for how the text steers it), with
``json_object`` it follows a small fixed schema, and with no format it is plain text. A test can plant the
answer for a prompt that contains a given text (``emulators.openai_plants``):
``POST /_emulator/openai/plant {"contains": "...", "answer": {...}}`` (or ``"item": {...}`` for one item of a
batch), ``GET /_emulator/openai/plants``, ``DELETE /_emulator/openai/plant``.

Embeddings (``emulators.embedding``) place texts that share words and stems near each other, deterministically,
in the model's own size (1536 for text-embedding-3-small, 3072 for -large, 768 for nomic-embed-text...) or the
requested ``dimensions``. Any ``Authorization`` header is accepted.

Run: ``python -m emulators.openai_compat --host 127.0.0.1 --port 8101``
"""

import base64
import hashlib
import json
import math
import struct
import time
from typing import Any

from fastapi import Request
from starlette.responses import JSONResponse

from emulators import embedding, schema_fill, serve
from emulators.errors import openai_error
from emulators.faults import CONTROL_PREFIX, EmulatorApp
from emulators.openai_plants import Plants, PlantSpec

DEFAULT_MODELS = ("gpt-4o-mini", "text-embedding-3-small")

# What a json_object request gets: clients of that mode parse whatever JSON arrives, so any stable shape works.
_JSON_OBJECT_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "title": {"type": "string"},
                    "relevant": {"type": "boolean"},
                },
            },
        },
    },
}


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def create_app() -> EmulatorApp:
    app = EmulatorApp(title="OpenAI-compatible emulator")
    models_seen: dict[str, None] = dict.fromkeys(DEFAULT_MODELS)
    plants = Plants()
    app.on_reset(plants.clear)

    @app.exception_handler(_BadRequest)
    async def bad_request(_: Request, exc: _BadRequest) -> JSONResponse:
        return openai_error(400, str(exc), param=exc.param)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            raise _BadRequest("you must provide a model parameter", "model")
        if not isinstance(messages, list) or not messages:
            raise _BadRequest("'messages' must be a non-empty array", "messages")
        if body.get("stream"):
            raise _BadRequest("streaming is not supported by the emulator", "stream")
        models_seen[model] = None
        prompt = _prompt(messages)
        content = plants.answer(prompt)
        if content is None:
            overrides = plants.item_overrides(prompt)
            content = _content(body.get("response_format"), _last_user_text(messages), overrides)
        prompt_tokens = _count_tokens(json.dumps(messages))
        completion_tokens = _count_tokens(content)
        return {
            "id": "chatcmpl-" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_emulator",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise _BadRequest("you must provide a model parameter", "model")
        texts = _embedding_inputs(body.get("input"))
        dimensions = _dimensions(model, body.get("dimensions"))
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            raise _BadRequest("'encoding_format' must be 'float' or 'base64'", "encoding_format")
        models_seen[model] = None
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(embedding.embed(text, dimensions), encoding)}
            for i, text in enumerate(texts)
        ]
        tokens = sum(_count_tokens(text) for text in texts)
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "emulator"} for name in models_seen]
        return {"object": "list", "data": data}

    @app.post(f"{CONTROL_PREFIX}/openai/plant")
    async def plant(spec: PlantSpec) -> dict[str, int]:
        return {"id": plants.add(spec)}

    @app.delete(f"{CONTROL_PREFIX}/openai/plant")
    async def unplant() -> dict[str, bool]:
        plants.clear()
        return {"ok": True}

    @app.get(f"{CONTROL_PREFIX}/openai/plants")
    async def planted() -> dict[str, Any]:
        return {"plants": plants.listing()}

    return app


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise _BadRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise _BadRequest("request body must be a JSON object")
    return body


def _last_user_text(messages: list[Any]) -> str:
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return _message_text((users or messages)[-1])  # content parts: only the text parts carry the prompt


def _prompt(messages: list[Any]) -> str:
    """Every message's text, for planted answers: the part a test knows may sit in a system or user message."""
    return "\n".join(_message_text(message) for message in messages)


def _message_text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _content(response_format: Any, text: str, overrides: schema_fill.Overrides = ()) -> str:
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise _BadRequest("response_format.json_schema.schema must be an object", "response_format")
        return json.dumps(schema_fill.fill(schema, text, overrides))
    if kind == "json_object":
        return json.dumps(schema_fill.fill(_JSON_OBJECT_SCHEMA, text, overrides))
    if kind in (None, "text"):
        return schema_fill.answer(text)
    raise _BadRequest(f"unsupported response_format type {kind!r}", "response_format")


def _embedding_inputs(raw: Any) -> list[str]:
    """Normalise every accepted input shape to texts; token arrays are hashed through their decimal form."""
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        return [",".join(map(str, raw))]
    if isinstance(raw, list) and raw and all(isinstance(x, str | list) for x in raw):
        return [x if isinstance(x, str) else ",".join(map(str, x)) for x in raw]
    raise _BadRequest("'input' must be a string, an array of strings or an array of token arrays", "input")


def _dimensions(model: str, requested: Any) -> int:
    """The vector size: the model's own unless `dimensions` asks for a smaller one, as OpenAI allows."""
    native = embedding.default_dimensions(model)
    if requested is None:
        return native
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise _BadRequest("'dimensions' must be a positive integer", "dimensions")
    if model in embedding.FIXED_SIZE_MODELS and requested != native:
        raise _BadRequest("This model does not support specifying dimensions.", "dimensions")
    if model in embedding.MODEL_DIMENSIONS and requested > native:
        raise _BadRequest(f"'dimensions' must be at most {native} for {model}", "dimensions")
    return requested


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "float":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def _count_tokens(text: str) -> int:
    """Roughly the real tokenizer's count for English: four characters a token."""
    return max(1, math.ceil(len(text) / 4))


if __name__ == "__main__":
    serve.run(create_app, description="OpenAI-compatible emulator", default_port=8101)
