"""The payload codec alone (runtime/payload_codec.py): AES-GCM, a key id in each payload, rotation that still reads
payloads sealed under older keys, and one key for processes that start at the same moment."""

import base64
import threading

import pytest
from temporalio.api.common.v1 import Payload

from runtime.payload_codec import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    PayloadKeyError,
    new_key_text,
    parse_keys,
    payload_keys,
)
from settings import Settings

SECRET = b'{"query_text": "the board meets on friday about the merger"}'


def plain(data: bytes = SECRET) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


async def test_a_payload_is_sealed_under_the_first_key_and_opened_again():
    codec = EncryptionCodec(parse_keys(new_key_text("k2") + "," + new_key_text("k1")))
    [sealed] = await codec.encode([plain()])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k2"
    assert b"merger" not in sealed.data and b"merger" not in sealed.SerializeToString()
    [opened] = await codec.decode([sealed])
    assert opened == plain()
    [again] = await codec.encode([plain()])
    assert again.data != sealed.data, "a fresh nonce each time"


async def test_rotation_keeps_reading_what_older_keys_sealed():
    old_key = new_key_text("2026-01")
    [sealed] = await EncryptionCodec(parse_keys(old_key)).encode([plain()])
    rotated = EncryptionCodec(parse_keys(new_key_text("2026-11") + "," + old_key))
    assert await rotated.decode([sealed]) == [plain()]
    [resealed] = await rotated.encode([plain()])
    assert resealed.metadata[KEY_ID] == b"2026-11"

    dropped = EncryptionCodec(parse_keys(new_key_text("2026-11")))
    with pytest.raises(PayloadKeyError, match="encrypted with key '2026-01', which LONGRUN_PAYLOAD_KEYS lacks"):
        await dropped.decode([sealed])


async def test_unencrypted_payloads_are_read_as_they_are():
    codec = EncryptionCodec(parse_keys(new_key_text("k1")))
    assert await codec.decode([plain(), plain(b"null")]) == [plain(), plain(b"null")]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no payload key"),
        ("nokey", "is `id:base64key`"),
        ("k1:not*base64", "is not base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "has 5 bytes; AES-256 needs 32"),
    ],
)
def test_malformed_keys_are_named(text, says):
    with pytest.raises(PayloadKeyError, match=says.replace("(", r"\(")):
        parse_keys(text)


def test_processes_starting_together_share_the_one_generated_key(tmp_path):
    settings = Settings(data_dir=tmp_path, _env_file=None, payload_keys="")
    found: list[dict[str, bytes]] = []
    threads = [threading.Thread(target=lambda: found.append(payload_keys(settings))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8 and all(keys == found[0] for keys in found)
    assert (tmp_path / "payload_keys").stat().st_mode & 0o777 == 0o600
    assert list(tmp_path.iterdir()) == [tmp_path / "payload_keys"], "no draft left behind"
