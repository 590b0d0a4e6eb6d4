"""Tokens and keys stay out of the API's log and out of world-readable state files: a socket's `?token=` and the
Web UI codec's key in its path are logged redacted, and devstack writes stack.json and its secrets 0600 from their
first byte."""

import json
import os
import stat

import httpx
import pytest
from websockets.asyncio.client import connect

from devstack.__main__ import kept_secret, write_json_atomic
from devstack.clients import eventually

KEY = "codec-key-that-must-not-be-logged"


@pytest.fixture(scope="module")
def logged_api(stack):
    url = stack.start_api("api-logged", LONGRUN_CODEC_UI_KEY=KEY)
    yield url, stack.logs / "api-logged.log"
    stack.stop_named("api-logged")


async def test_the_access_log_holds_neither_a_socket_token_nor_the_codec_key(logged_api, admin):
    base, log = logged_api
    ws_base = base.replace("http://", "ws://")
    # An older client's ?token= (still taken), and the dashboard's way: the token as the first message.
    async with connect(f"{ws_base}/api/v1/ws/jobs?token={admin.token}"):
        pass
    async with connect(f"{ws_base}/api/v1/ws/jobs") as ws:
        await ws.send(json.dumps({"token": admin.token}))
    async with httpx.AsyncClient(base_url=base) as http:
        decoded = await http.post(f"/api/v1/codec/web-ui/{KEY}/decode", json={"payloads": []})
        assert decoded.status_code == 200

    async def logged() -> str | None:
        text = log.read_text(errors="replace")
        done = "/api/v1/codec/web-ui/<redacted>/decode" in text and "/api/v1/ws/jobs?token=<redacted>" in text
        return text if done else None

    text = await eventually(logged, "the API to log the decode and the socket")
    assert admin.token not in text
    assert admin.token.split(".")[2] not in text, "the token's signature is in the log"
    assert KEY not in text


def test_state_files_are_owner_only_from_their_first_byte(tmp_path):
    previous = os.umask(0)  # the most permissive umask: only the mode the file is created with protects it
    try:
        write_json_atomic(tmp_path / "stack.json", {"codec": KEY})
        secret = kept_secret(tmp_path / "codec_ui_key")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "stack.json").stat().st_mode) == 0o600
    assert json.loads((tmp_path / "stack.json").read_text()) == {"codec": KEY}
    assert stat.S_IMODE((tmp_path / "codec_ui_key").stat().st_mode) == 0o600
    assert kept_secret(tmp_path / "codec_ui_key") == secret, "kept: a second call reads the same secret"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["codec_ui_key", "stack.json"], "no drafts left"
