"""The codec endpoint: Temporal's remote codec protocol (`POST …/decode`, `POST …/encode`, Payloads as proto JSON),
so the Temporal Web UI and the `temporal` CLI (`--codec-endpoint`) show the encrypted payloads decoded.

Two doors to the one codec:
- `/api/v1/codec/{decode,encode}` for a signed-in admin (Bearer token): the CLI, scripts;
- `/api/v1/codec/web-ui/<LONGRUN_CODEC_UI_KEY>/{decode,encode}` for the Web UI, which calls from the browser and
  cannot send our token: the key in the path is the credential (`make up` keeps one in the data dir and gives it
  to the UI's `--ui-codec-endpoint`). It is as secret as the Web UI is: whoever may open the Web UI may read what
  it shows. A wrong key is a 404, like any path that does not exist.
Only the Web UI's own origin may call these from a browser (`WebUiCors`); every other route stays same-origin.
Both serve the deployment's namespace alone (LONGRUN_TEMPORAL_NAMESPACE or TEMPORAL_NAMESPACE), checked against the
X-Namespace header the Web UI and the CLI send.
"""

import hmac
from typing import Any

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, HTTPException, Request, status
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from pydantic import BaseModel, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.api.common.v1 import Payloads

from api.deps import AdminOnly, SettingsDep
from runtime.payload_codec import ENCODING, KEY_ID, NONCE_BYTES, PayloadKeyError

router = APIRouter(prefix="/api/v1/codec", tags=["codec"])
PREFIX = router.prefix


class PayloadsJson(BaseModel):
    """Temporal's `Payloads` as proto JSON: each payload's metadata values and data are base64."""

    payloads: list[dict[str, Any]] = Field(description='[{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]')


# AES-GCM's tag: sealed data is at least a nonce and a tag long.
_TAG_BYTES = 16


def _sealed_shape_checked(payloads: Payloads) -> None:
    """What the codec would choke on (a key id that is not UTF-8, data too short to hold a nonce and a tag) is the
    caller's mistake: a 422 naming the payload, not the codec's UnicodeDecodeError or ValueError as a 500."""
    for index, payload in enumerate(payloads.payloads):
        if payload.metadata.get("encoding") != ENCODING:
            continue
        try:
            payload.metadata.get(KEY_ID, b"").decode()
        except UnicodeDecodeError as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"payload {index}: its {KEY_ID} is not UTF-8"
            ) from exc
        if len(payload.data) < NONCE_BYTES + _TAG_BYTES:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"payload {index}: encrypted data has {len(payload.data)} bytes, fewer than a nonce and a tag "
                f"({NONCE_BYTES + _TAG_BYTES})",
            )


def _namespace_checked(request: Request) -> None:
    """The Web UI and the CLI name the namespace whose payloads they send (X-Namespace). This codec holds the keys of
    one namespace, the deployment's: a shared Web UI showing another namespace is told so, not handed a decryption
    error (or, with a key id that happens to match, another deployment's data read with ours)."""
    named = request.headers.get("x-namespace")
    ours = request.app.state.settings.temporal_namespace
    if named is not None and named != ours:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"this codec serves namespace {ours!r}; the request names {named[:200]!r}"
        )


async def _apply(request: Request, body: PayloadsJson, direction: str) -> PayloadsJson:
    _namespace_checked(request)
    try:
        payloads = json_format.ParseDict(body.model_dump(), Payloads())
    except json_format.ParseError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"not Temporal Payloads JSON: {exc}") from exc
    if direction == "decode":
        _sealed_shape_checked(payloads)
    codec = request.app.state.temporal_codec
    try:
        done = await (codec.decode if direction == "decode" else codec.encode)(payloads.payloads)
    except PayloadKeyError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except (InvalidTag, DecodeError) as exc:  # altered, or sealed under another key of the same name
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a payload does not decrypt with its key") from exc
    return PayloadsJson(payloads=[json_format.MessageToDict(payload) for payload in done])


def _web_ui_key_checked(key: str, settings: SettingsDep) -> None:
    expected = settings.codec_ui_key.get_secret_value()
    if not expected or not hmac.compare_digest(key.encode(), expected.encode()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")


@router.post("/decode")
async def decode(request: Request, body: PayloadsJson, _: AdminOnly) -> PayloadsJson:
    return await _apply(request, body, "decode")


@router.post("/encode")
async def encode(request: Request, body: PayloadsJson, _: AdminOnly) -> PayloadsJson:
    return await _apply(request, body, "encode")


@router.post("/web-ui/{key}/decode", include_in_schema=False)
async def web_ui_decode(key: str, request: Request, body: PayloadsJson, settings: SettingsDep) -> PayloadsJson:
    _web_ui_key_checked(key, settings)
    return await _apply(request, body, "decode")


@router.post("/web-ui/{key}/encode", include_in_schema=False)
async def web_ui_encode(key: str, request: Request, body: PayloadsJson, settings: SettingsDep) -> PayloadsJson:
    _web_ui_key_checked(key, settings)
    return await _apply(request, body, "encode")


class WebUiCors:
    """CORS on the codec's paths alone: the Web UI's origin (and its localhost/127.0.0.1 twin) may POST to them."""

    def __init__(self, app: ASGIApp, temporal_ui_url: str) -> None:
        self.app = app
        origin = temporal_ui_url.rstrip("/")
        twins = {origin, origin.replace("//127.0.0.1", "//localhost"), origin.replace("//localhost", "//127.0.0.1")}
        self.cors = CORSMiddleware(
            app,
            allow_origins=sorted(twins),
            allow_methods=["POST"],
            allow_headers=["content-type", "x-namespace", "authorization"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
