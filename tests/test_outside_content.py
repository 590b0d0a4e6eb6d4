"""Outside content must not be able to hurt the workers (issue 18): a decompression bomb, a feed or provider URL
pointing inside, an unbounded Retry-After, a provider row naming a foreign environment variable.

The feed cases run through the real API, worker, Temporal and the feeds emulator (which serves bombs and open
redirects); the guard's own logic has pure tests beside them.
"""

import gzip
import zlib
from datetime import timedelta

import httpx
import openai
import pytest
from sqlalchemy import text

from clients.feeds import FeedError
from clients.llm import LLMEndpointRefused
from clients.outside_http import (
    Allowlist,
    BodyCap,
    BodyTooLarge,
    CappedStream,
    address_allowed,
    allowed_hosts_setting,
    literal_internal_host,
)
from clients.providers import ProviderClients
from clients.retry_after import MAX_RETRY_AFTER_SECONDS, parse_retry_after
from db.models.tracker import EMBEDDING_DIMENSION
from devstack import processes as ps
from devstack.clients import eventually
from runtime.errors import llm_failure, outside_failure
from settings import Settings
from tests.support.news import discover, make_sources

REFUSED = "refused: address not allowed"

# ----------------------------------------------------------------------------------------------- pure logic


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "100.64.0.1",  # CGNAT
        "100.100.100.200",  # Alibaba's metadata service, inside CGNAT
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",  # AWS's IPv6 metadata service, unique-local
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "64:ff9b::a9fe:a9fe",  # NAT64 form of 169.254.169.254
        "2002:7f00:1::",  # 6to4 form of 127.0.0.1
        "::127.0.0.1",  # IPv4-compatible (deprecated) loopback
        "::a9fe:a9fe",  # IPv4-compatible form of 169.254.169.254
        "::8.8.8.8",  # IPv4-compatible: refused as a form, whatever it embeds
        "64:ff9b:1::a9fe:a9fe",  # local-use NAT64 (RFC 8215): the gateway maps it as it likes
        "64:ff9b:1:ffff::1",
        "ff02::1",
    ],
)
def test_internal_addresses_are_refused(address):
    assert not address_allowed(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert address_allowed(address)


def test_allowlist_names_a_host_or_one_port_of_it():
    allowed = Allowlist.of(["127.0.0.1:8102", "Intranet.Example."], "http://10.0.0.5:8105/odata")
    assert allowed.allows("127.0.0.1", 8102) and not allowed.allows("127.0.0.1", 9464)
    assert allowed.allows("intranet.example", 443) and allowed.allows("10.0.0.5", 8105)
    assert literal_internal_host("http://[::1]:8080/") and literal_internal_host("http://LOCALHOST/x")
    assert not literal_internal_host("https://example.com/feed")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("31536000", MAX_RETRY_AFTER_SECONDS),  # a year
        ("1e14", MAX_RETRY_AFTER_SECONDS),  # overflowed timedelta
        ("1e400", MAX_RETRY_AFTER_SECONDS),  # inf
        ("inf", MAX_RETRY_AFTER_SECONDS),
        ("nan", None),
        ("-5", 0.0),
        ("2.5", 2.5),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER_SECONDS),
        (86400, MAX_RETRY_AFTER_SECONDS),  # Telegram's FloodWait, the Bot API's parameters.retry_after
        (True, None),
        ("soon", None),
    ],
)
def test_every_retry_after_is_clamped(value, expected):
    assert parse_retry_after(value) == expected


def test_a_huge_retry_after_becomes_a_bounded_retry_delay():
    failure = outside_failure(FeedError("429", permanent=False, retry_after=parse_retry_after("1e14")))
    assert failure.next_retry_delay == timedelta(seconds=MAX_RETRY_AFTER_SECONDS)


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, data: bytes, size: int = 4096) -> None:
        self._chunks = [data[i : i + size] for i in range(0, len(data), size)]

    async def __aiter__(self):
        for chunk in self._chunks:
            yield chunk


async def _read(data: bytes, coding: str | None, cap: int) -> bytes:
    return b"".join([chunk async for chunk in CappedStream(_Chunks(data), coding, BodyCap(cap, "CAP"))])


async def test_bodies_unpack_within_the_cap_and_are_refused_past_it():
    text_ = b"<rss>" + b"news " * 10_000 + b"</rss>"
    assert await _read(gzip.compress(text_), "gzip", len(text_)) == text_
    assert await _read(zlib.compress(text_), "deflate", len(text_)) == text_
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert await _read(raw_deflate.compress(text_) + raw_deflate.flush(), "deflate", len(text_)) == text_
    with pytest.raises(BodyTooLarge, match="unpacked.*CAP"):
        await _read(gzip.compress(b" " * 2**20), "gzip", 64 * 1024)  # ~1 KB on the wire
    with pytest.raises(BodyTooLarge, match="on the wire.*CAP"):
        await _read(b"x" * 100_000, None, 50_000)


# ----------------------------------------------------------------------------------------------- feeds, for real


async def _pointed_at(database, source: dict, url: str) -> dict:
    """A source whose URL was stored before the API checked URLs (or names a host resolving inside)."""
    async with database.begin() as conn:
        await conn.execute(text("update news_source set feed_url = :u where id = :i"), {"u": url, "i": source["id"]})
    return {**source, "feed_url": url}


async def test_a_bomb_feed_fails_its_source_at_once_and_the_worker_goes_on(stack, admin, feeds):
    [stacked, oversized, good] = await make_sources(admin, stack, 3, items=5)
    # 342 bytes on the wire, 20 MiB unpacked: gzip twice over. And an honest gzip body past the 16 MiB cap.
    stacked = await admin.ok(
        "PATCH", f"/api/v1/news/sources/{stacked['id']}", json={"feed_url": f"{stack.feeds_url}/feeds/s.bomb"}
    )
    oversized = await admin.ok(
        "PATCH",
        f"/api/v1/news/sources/{oversized['id']}",
        json={"feed_url": f"{stack.feeds_url}/feeds/o.bomb?layers=1&mib=20"},
    )
    snap = await admin.wait_job(await discover(admin, [stacked, oversized, good]))
    assert (snap["status"], snap["succeeded"], snap["failed"]) == ("completed", 1, 2), snap
    errors = {e["item"]: e["error"] for e in snap["errors"]}
    assert "stacked content-codings" in errors[stacked["name"]]
    assert "LONGRUN_FEED_MAX_BYTES" in errors[oversized["name"]]
    # Permanent: one request each, not eight attempts each taking a worker down.
    assert await feeds.requests("/feeds/s.bomb") == 1
    assert await feeds.requests("/feeds/o.bomb") == 1
    assert all(proc.alive() for proc in stack.procs if proc.name == "worker")


async def test_save_refuses_a_feed_url_on_an_internal_address(stack, admin):
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:9464/metrics",
        "http://[::1]/",
        "http://localhost:8102/x",
    ):
        response = await admin.http.post("/api/v1/news/sources", json={"name": "inside", "feed_url": url})
        assert response.status_code == 422, (url, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", "feed_url"]
    [source] = await make_sources(admin, stack, 1)
    patched = await admin.http.patch(f"/api/v1/news/sources/{source['id']}", json={"feed_url": "http://10.0.0.1/"})
    assert patched.status_code == 422 and patched.json()["detail"][0]["loc"] == ["body", "feed_url"]


async def test_internal_feed_urls_are_refused_at_connect_and_on_redirect(stack, admin, feeds, database):
    api_port = httpx.URL(stack.api_url).port  # an open port on loopback: the scan's interesting answer
    closed_port = ps.free_port()
    feeds_port = httpx.URL(stack.feeds_url).port
    sources = await make_sources(admin, stack, 5, items=5)
    urls = [
        "http://169.254.169.254/latest/meta-data/",
        f"http://127.0.0.1:{api_port}/api/v1/health",
        f"http://127.0.0.1:{closed_port}/feed.rss",
        # The emulator itself, but by a name that resolves to loopback: only 127.0.0.1:<port> is allowed.
        f"http://localhost:{feeds_port}/feeds/byname.rss",
        f"{stack.feeds_url}/redirect?to=http://127.0.0.1:{api_port}/api/v1/health",
    ]
    sources = [await _pointed_at(database, source, url) for source, url in zip(sources, urls, strict=True)]
    snap = await admin.wait_job(await discover(admin, sources))
    assert (snap["status"], snap["succeeded"], snap["failed"]) == ("completed", 0, 5), snap
    errors = {e["item"]: e["error"] for e in snap["errors"]}
    assert errors.keys() == {source["name"] for source in sources}
    # The same words for an open port, a closed one, a name and the metadata service: nothing to scan with.
    [said] = set(errors.values())
    assert said.endswith(REFUSED), said
    assert await feeds.requests("/redirect") == 1  # refused for good, not retried
    assert await feeds.requests("/feeds/byname.rss") == 0


async def test_a_huge_retry_after_from_a_feed_waits_at_most_the_clamp(stack, admin, feeds, temporal):
    [year, overflow] = await make_sources(admin, stack, 2, items=5)
    for source, wait in ((year, 31_536_000), (overflow, 1e14)):
        await feeds.fault(path=httpx.URL(source["feed_url"]).path, kind="status", status=429, retry_after=wait)
    job_id = await discover(admin, [year, overflow])
    handle = temporal.get_workflow_handle(job_id)

    async def both_waiting():
        pending = (await handle.describe()).raw_description.pending_activities
        waiting = [p for p in pending if p.attempt >= 2 and p.HasField("last_failure")]
        return waiting if len(waiting) == 2 else None

    try:
        waiting = await eventually(both_waiting, "both sources to wait for their next attempt", within=60)
        for pending in waiting:
            assert "429" in pending.last_failure.message, pending.last_failure.message  # not an OverflowError
            assert pending.current_retry_interval.seconds == MAX_RETRY_AFTER_SECONDS  # the wait asked, clamped
    finally:
        # Terminated, not cancelled: cancelling an activity waiting for its retry makes the server write an
        # unencrypted ACTIVITY_ID_NOT_STARTED payload, which test_history_secrets rightly counts.
        await handle.terminate("seen enough")


# ----------------------------------------------------------------------------------------------- LLM providers


def _provider_body(stack, **change) -> dict:
    body = {"name": f"p-{ps.free_port()}", "base_url": f"{stack.openai_url}/v1", "chat_model": "m", "active": False}
    return {**body, "embedding_model": "text-embedding-3-small", **change}


async def test_a_provider_naming_a_foreign_variable_or_an_internal_host_is_422(stack, admin):
    for change, field in (
        ({"api_key_env": "LONGRUN_DATABASE_URL"}, "api_key_env"),
        ({"api_key_env": "LONGRUN_JWT_SECRET"}, "api_key_env"),
        ({"base_url": "http://169.254.169.254/v1"}, "base_url"),
        ({"base_url": "http://127.0.0.1:9464/v1"}, "base_url"),
    ):
        response = await admin.http.post("/api/v1/providers", json=_provider_body(stack, **change))
        assert response.status_code == 422, (change, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", field]
    created = await admin.ok(
        "POST", "/api/v1/providers", 201, json=_provider_body(stack, api_key_env="LONGRUN_LLM_KEY_TEAM")
    )
    try:
        patch = await admin.http.patch(
            f"/api/v1/providers/{created['id']}", json={"api_key_env": "LONGRUN_DATABASE_URL"}
        )
        assert patch.status_code == 422 and patch.json()["detail"][0]["loc"] == ["body", "api_key_env"]
    finally:
        await admin.ok("DELETE", f"/api/v1/providers/{created['id']}", 204)


class _Row:
    kind = "openai"
    chat_model = "m"
    embedding_model = "text-embedding-3-small"
    embedding_dimension = EMBEDDING_DIMENSION

    def __init__(self, base_url: str, api_key_env: str | None) -> None:
        self.base_url = base_url
        self.api_key_env = api_key_env


async def test_rows_stored_before_the_checks_are_refused_at_use(stack, llm, monkeypatch):
    monkeypatch.setenv("LONGRUN_DATABASE_URL", "postgresql://longrun:secret@db/longrun")
    openai_port = httpx.URL(stack.openai_url).port
    settings = Settings(_env_file=None, outside_hosts_allowed=f"127.0.0.1:{openai_port}")
    providers = ProviderClients(settings)
    try:
        # The same emulator answers a row with an allowed key variable: what follows is refused, not unreachable.
        assert (
            len((await providers.embed(_Row(f"{stack.openai_url}/v1", "OPENAI_API_KEY"), ["x"]))[0])
            == EMBEDDING_DIMENSION
        )
        assert await llm.requests("/v1/embeddings") == 1
        with pytest.raises(LLMEndpointRefused, match="LONGRUN_DATABASE_URL"):
            await providers.embed(_Row(f"{stack.openai_url}/v1", "LONGRUN_DATABASE_URL"), ["x"])
        with pytest.raises(LLMEndpointRefused, match=REFUSED):
            await providers.embed(_Row(f"http://localhost:{openai_port}/v1", None), ["x"])
        assert await llm.requests("/v1/embeddings") == 1  # neither reached it
    finally:
        await providers.close()
    # In an activity, a refusal is final: no retries against a host or key that will be refused again.
    assert llm_failure(LLMEndpointRefused(REFUSED)).non_retryable


def test_devstack_allows_its_feeds_and_llm_emulators_by_port_only(tmp_path):
    base = {"LONGRUN_OUTSIDE_HOSTS_ALLOWED": "intranet.example:8080"}
    common = {"database_url": "x", "temporal_address": "x", "data_dir": tmp_path}
    env = ps.stack_env(**common, feeds_port=8302, openai_port=8301, base=base)
    allowed = Allowlist.of(allowed_hosts_setting(env["LONGRUN_OUTSIDE_HOSTS_ALLOWED"]))
    assert allowed == Allowlist.of(["intranet.example:8080", "127.0.0.1:8302", "127.0.0.1:8301"])


@pytest.mark.parametrize("status", [429, 503])
def test_an_llm_retry_after_is_honoured_on_a_503_as_on_a_429_and_clamped(status):
    request = httpx.Request("POST", "https://llm.example/v1/chat/completions")
    for header, seconds in (("7", 7), ("31536000", MAX_RETRY_AFTER_SECONDS)):
        response = httpx.Response(status, headers={"retry-after": header}, request=request)
        kind = openai.RateLimitError if status == 429 else openai.InternalServerError
        exc = kind("busy", response=response, body=None)
        failure = llm_failure(exc)
        assert not failure.non_retryable
        assert failure.next_retry_delay is not None and failure.next_retry_delay.total_seconds() == seconds
