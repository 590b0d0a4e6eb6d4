"""Request bodies are bounded before anything reads them: a body over its path's bound is a 413 naming the bound
(declared or streamed), the webhook's secret is checked before its body is read, and a deeply nested JSON body is
a 422, never a 500."""

import asyncio
import json
from urllib.parse import urlsplit

import httpx
import pytest

SECRET = "edge-test-secret"
WEBHOOK_LIMIT = 4096
DEADLINE = 30


@pytest.fixture(scope="module")
def edge_api(stack):
    env = {"LONGRUN_TELEGRAM_WEBHOOK_SECRET": SECRET, "LONGRUN_WEBHOOK_MAX_BODY_BYTES": str(WEBHOOK_LIMIT)}
    with stack.running_api("api-bodies", **env) as url:
        yield url


async def raw_exchange(base: str, head: str, body_parts: list[bytes]) -> tuple[int, dict]:
    """Send a request's head and some of its body over a plain socket and read the answer, without ever sending
    the rest: the answer arrives only if the server decided before the body was all there."""
    where = urlsplit(base)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        writer.write(head.encode())
        for part in body_parts:
            writer.write(part)
        await writer.drain()
        async with asyncio.timeout(DEADLINE):
            status_line = await reader.readline()
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1]), json.loads(body)
    finally:
        writer.close()


def post_head(base: str, path: str, extra: str) -> str:
    host = urlsplit(base).netloc
    return f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}\r\n"


async def test_a_declared_gigabyte_is_refused_before_it_is_read(edge_api):
    head = post_head(edge_api, "/api/login/", "Content-Length: 1000000000\r\n")
    status, answer = await raw_exchange(edge_api, head, [b'{"username": "'])
    assert status == 413
    assert answer["detail"] == f"the request body is larger than the {1024 * 1024} bytes this path takes"


async def test_a_streamed_body_is_counted_as_it_comes(edge_api):
    """Chunked, with no Content-Length to refuse up front: refused once the bytes pass the bound, not at the end
    (which never comes here)."""
    head = post_head(edge_api, "/api/login/", "Transfer-Encoding: chunked\r\n")
    chunk = b"x" * 65536
    parts = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * 17  # 1.06 MiB, and no final zero-length chunk
    status, answer = await raw_exchange(edge_api, head, parts)
    assert status == 413 and "1048576 bytes" in answer["detail"]


async def test_the_webhook_checks_its_secret_before_the_body_and_bounds_it_tighter(edge_api):
    head = post_head(edge_api, "/webhook/telegram", "Content-Length: 1000000000\r\n")
    status, answer = await raw_exchange(edge_api, head, [b'{"update_id": 1'])
    assert (status, answer["detail"]) == (401, "missing or wrong X-Telegram-Bot-Api-Secret-Token")

    async with httpx.AsyncClient(base_url=edge_api, timeout=DEADLINE) as http:
        big = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "group"},
                                            "text": "x" * WEBHOOK_LIMIT}}  # fmt: skip
        refused = await http.post("/webhook/telegram", json=big, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert refused.status_code == 413
        assert refused.json()["detail"] == f"the request body is larger than the {WEBHOOK_LIMIT} bytes this path takes"
        # Other paths keep the default bound: the same body is a 422 for its shape there, not a 413.
        assert (await http.post("/api/login/", json=big)).status_code == 422


@pytest.mark.parametrize("depth", [600, 5_000, 100_000])
async def test_a_deeply_nested_body_is_a_422_on_any_route_without_a_token(edge_api, depth):
    async with httpx.AsyncClient(base_url=edge_api, timeout=DEADLINE) as http:
        for path, body in (
            ("/api/login/", "[" * depth + "]" * depth),
            ("/api/v1/users", '{"a":' * depth + '"\\u0000"' + "}" * depth),
            ("/api/v1/news/sources", '{"name": ' + "[" * depth + "]" * depth + "}"),
        ):
            answer = await http.post(path, content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code == 422, (path, answer.status_code, answer.text[:200])
            assert answer.json()["detail"][0]["msg"] == "JSON nested deeper than 64 levels"


async def test_nesting_within_the_bound_still_reaches_the_route(edge_api):
    async with httpx.AsyncClient(base_url=edge_api, timeout=DEADLINE) as http:
        # 64 levels, and brackets inside strings do not count.
        body = "[" * 63 + '"[[[[[[[[[[[[[[[[[[[["' + "]" * 63
        answer = await http.post("/api/login/", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == "model_attributes_type"
