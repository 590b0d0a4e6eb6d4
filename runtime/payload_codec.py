"""Workflow and activity payloads are encrypted before they leave the process (AES-256-GCM), so what Temporal
stores, shows and exports (history, queries, results) holds no user content in clear: message texts, queries,
answers, drafts.

Each payload names the key that encrypted it (`encryption-key-id` in its metadata), so keys rotate: put a new key
first in `LONGRUN_PAYLOAD_KEYS` and it encrypts from then on, while payloads written under the older keys still
decrypt as long as those stay listed. A payload without encryption (histories recorded before, or written by a
client without the codec) is read as it is.

Credentials are another matter: they never enter a workflow at all (activities read them from settings), so they
are not in history even decrypted. The Temporal Web UI shows payloads through the API's codec endpoint
(api/routes/codec.py).
"""

from __future__ import annotations

import base64
import dataclasses
import os
import secrets
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

from settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """The keys are malformed, or a payload names a key this process does not have."""


def parse_keys(text: str) -> dict[str, bytes]:
    """`id:base64key,id2:base64key` (32-byte keys), in order: the first one encrypts."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id:
            raise PayloadKeyError(f"a payload key is `id:base64key`, got {item[:12]!r}...")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise PayloadKeyError(f"payload key {key_id!r} is not base64") from exc
        if len(key) != 32:
            raise PayloadKeyError(f"payload key {key_id!r} has {len(key)} bytes; AES-256 needs 32")
        keys[key_id] = key
    if not keys:
        raise PayloadKeyError("no payload key")
    return keys


def new_key_text(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def payload_keys(settings: Settings) -> dict[str, bytes]:
    """The configured keys; with none configured, one generated once and kept in the data dir (so that a worker and
    an API starting at the same moment end up with the same key), where the settings allow that."""
    configured = settings.payload_keys.get_secret_value()
    if configured:
        return parse_keys(configured)
    return parse_keys(settings.kept_secret("payload_keys", "LONGRUN_PAYLOAD_KEYS", lambda: new_key_text("k1")))


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes]) -> None:
        self._active_id = next(iter(keys))
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._active_id]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)
            metadata = {"encoding": ENCODING, KEY_ID: self._active_id.encode()}
            encoded.append(Payload(metadata=metadata, data=nonce + sealed))
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                decoded.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise PayloadKeyError(f"a payload is encrypted with key {key_id!r}, which LONGRUN_PAYLOAD_KEYS lacks")
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], None)
            decoded.append(Payload.FromString(plain))
        return decoded


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic payloads, encrypted: what every client of Temporal uses (worker, API, tools, tests)."""
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(payload_keys(settings)))
