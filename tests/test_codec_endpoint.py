"""The API's codec endpoint (Temporal's remote codec protocol): admins and the Web UI's key decode what the workers
encrypted; nobody else does, and only the Web UI's origin may call it from a browser."""

import base64
import json

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.enums.v1 import EventType

from tests.support.news import discover, make_sources

UI_KEY = "web-ui-codec-key-for-tests"
UI_ORIGIN = "http://127.0.0.1:8233"  # settings.temporal_ui_url's default, which the stack's APIs keep


async def started_input(temporal, job_id: str) -> dict:
    """The job's workflow input as Temporal stores it: encrypted, in proto JSON."""
    history = await temporal.get_workflow_handle(job_id).fetch_history()
    started = history.events[0]
    assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    return json_format.MessageToDict(started.workflow_execution_started_event_attributes.input)


def texts(answer: dict) -> list[str]:
    return [base64.b64decode(payload["data"]).decode() for payload in answer["payloads"]]


@pytest.fixture(scope="module")
def ui_api(stack):
    url = stack.start_api("api-codec", LONGRUN_CODEC_UI_KEY=UI_KEY)
    yield url
    stack.stop_named("api-codec")


async def test_an_admin_decodes_what_the_workers_encrypted_and_nobody_else(stack, admin, make_user, temporal):
    sources = await make_sources(admin, stack, 1, items=2)
    job_id = await discover(admin, sources)
    stored = await started_input(temporal, job_id)
    assert all(base64.b64decode(p["metadata"]["encoding"]) == b"binary/encrypted" for p in stored["payloads"])

    answer = await admin.ok("POST", "/api/v1/codec/decode", json=stored)
    [decoded] = texts(answer)
    assert [source["id"] for source in json.loads(decoded)["sources"]] == [sources[0]["id"]]

    # And back: what the API encodes, it decodes again (the Web UI encodes a signal's input it sends).
    sealed = await admin.ok("POST", "/api/v1/codec/encode", json=answer)
    assert texts(await admin.ok("POST", "/api/v1/codec/decode", json=sealed)) == [decoded]

    user = await make_user("user")
    assert (await user.http.post("/api/v1/codec/decode", json=stored)).status_code == 403
    tampered = json.loads(json.dumps(stored))
    data = bytearray(base64.b64decode(tampered["payloads"][0]["data"]))
    data[-1] ^= 1
    tampered["payloads"][0]["data"] = base64.b64encode(bytes(data)).decode()
    refused = await admin.http.post("/api/v1/codec/decode", json=tampered)
    assert (refused.status_code, refused.json()["detail"]) == (422, "a payload does not decrypt with its key")
    garbage = await admin.http.post("/api/v1/codec/decode", json={"payloads": [{"data": "not base64 !"}]})
    assert garbage.status_code == 422 and "not Temporal Payloads JSON" in garbage.json()["detail"]
    await admin.wait_job(job_id)


async def test_the_web_ui_decodes_with_its_key_from_its_own_origin(stack, admin, temporal, ui_api):
    job_id = await discover(admin, await make_sources(admin, stack, 1, items=2))
    stored = await started_input(temporal, job_id)
    async with httpx.AsyncClient(base_url=ui_api) as browser:
        # The browser asks first: a JSON POST with the UI's X-Namespace header is not a simple request.
        preflight = await browser.options(
            f"/api/v1/codec/web-ui/{UI_KEY}/decode",
            headers={"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type,x-namespace"},
        )  # fmt: skip
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN
        decoded = await browser.post(
            f"/api/v1/codec/web-ui/{UI_KEY}/decode",
            json=stored,
            headers={"Origin": UI_ORIGIN, "X-Namespace": "default"},
        )
        assert decoded.status_code == 200 and decoded.headers["access-control-allow-origin"] == UI_ORIGIN
        assert json.loads(texts(decoded.json())[0])["max_parallel"] == 3

        # A Web UI shared by several namespaces sends another's payloads with its name: this codec is one namespace's.
        another = await browser.post(
            f"/api/v1/codec/web-ui/{UI_KEY}/decode",
            json=stored,
            headers={"Origin": UI_ORIGIN, "X-Namespace": "another-team"},
        )
        assert another.status_code == 400
        assert another.json()["detail"] == "this codec serves namespace 'default'; the request names 'another-team'"

        wrong = await browser.post("/api/v1/codec/web-ui/not-the-key/decode", json=stored)
        assert wrong.status_code == 404
        elsewhere = await browser.options(
            f"/api/v1/codec/web-ui/{UI_KEY}/decode",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in elsewhere.headers
        # The rest of the API stays same-origin, even for the Web UI.
        other = await browser.options(
            "/api/v1/jobs", headers={"Origin": UI_ORIGIN, "Access-Control-Request-Method": "GET"}
        )
        assert "access-control-allow-origin" not in other.headers
    # Without a key configured, the Web UI's door does not exist.
    assert (await admin.http.post(f"/api/v1/codec/web-ui/{UI_KEY}/decode", json=stored)).status_code == 404
    await admin.wait_job(job_id)


def sealed(key_id: bytes, data: bytes) -> dict:
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return {"payloads": [{"metadata": {"encoding": b64(b"binary/encrypted"), "encryption-key-id": b64(key_id)},
                          "data": b64(data)}]}  # fmt: skip


async def test_a_key_id_that_is_not_utf8_or_data_too_short_is_a_422_naming_it(admin):
    not_utf8 = await admin.http.post("/api/v1/codec/decode", json=sealed(b"\xff\xfe", b"x" * 40))
    assert not_utf8.status_code == 422, not_utf8.text
    assert not_utf8.json()["detail"] == "payload 0: its encryption-key-id is not UTF-8"
    for short in (b"", b"1234567", b"x" * 20):
        answer = await admin.http.post("/api/v1/codec/decode", json=sealed(b"k1", short))
        assert answer.status_code == 422, answer.text
        assert f"encrypted data has {len(short)} bytes" in answer.json()["detail"]
