"""clients/max.py against the MAX emulator over real loopback HTTP: uploads, albums, every kind of failure the
migration must tell apart, and finding a message whose answer was lost."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clients.max import MaxClient, MaxError
from devstack.clients import Emulator, eventually
from domain.max_match import find_delivered
from domain.max_split import plan_post
from domain.posts import Media, MediaKind, Post
from runtime.rate_limit import LocalRateLimiter
from tests.support.max_text import ent

TOKEN = "bot-token-1"
CHANNEL = -70001


async def _configure(base_url: str, **knobs: object) -> None:
    await Emulator(base_url).control("POST", "/_emulator/max/config", **knobs)


async def _stored(base_url: str, chat_id: int = CHANNEL) -> list[dict]:
    return (await Emulator(base_url).control("GET", f"/_emulator/max/chats/{chat_id}/messages"))["messages"]


@pytest.fixture
async def client(max_url: str) -> AsyncIterator[MaxClient]:
    # A fast local limiter: these tests are about the protocol; tests/crossposting/test_max_rate_limit.py is about
    # pacing.
    async with MaxClient(max_url, LocalRateLimiter(1000), not_ready_retry_after=0.2) as max_client:
        yield max_client


@pytest.fixture
def files(tmp_path: Path) -> dict[MediaKind, Path]:
    made = {}
    for kind, name, size in [
        (MediaKind.image, "photo.jpg", 70_000),
        (MediaKind.video, "clip.mp4", 1_500_000),
        (MediaKind.audio, "song.mp3", 300_000),
        (MediaKind.file, "report.pdf", 123_457),
    ]:
        path = tmp_path / name
        path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
        made[kind] = path
    return made


async def test_upload_each_kind_and_send_an_album(max_url: str, client: MaxClient, files: dict) -> None:
    await _configure(max_url, not_ready_seconds=0)
    refs = {kind: await client.upload(TOKEN, kind, path) for kind, path in files.items()}
    assert {kind: ref.type for kind, ref in refs.items()} == {kind: kind for kind in files}

    album = [refs[MediaKind.image], refs[MediaKind.video], refs[MediaKind.image]]
    sent = await client.send(TOKEN, CHANNEL, "**Album** of three", album)
    assert sent.attachment_types == ["image", "video", "image"]
    assert sent.text == "Album of three"
    assert sent.chat_id == CHANNEL
    await client.send(TOKEN, CHANNEL, "", [refs[MediaKind.audio]])
    document = await client.send(TOKEN, CHANNEL, "the report", [refs[MediaKind.file]])

    stored = await _stored(max_url)
    assert [m["body"]["mid"] for m in stored][0] == sent.mid
    assert [[a["type"] for a in m["body"]["attachments"]] for m in stored] == [
        ["image", "video", "image"],
        ["audio"],
        ["file"],
    ]
    file_attachment = stored[2]["body"]["attachments"][0]
    assert (file_attachment["filename"], file_attachment["size"]) == (
        "report.pdf",
        files[MediaKind.file].stat().st_size,
    )
    assert [m.mid for m in await client.recent_messages(TOKEN, CHANNEL)] == [
        document.mid,
        stored[1]["body"]["mid"],
        sent.mid,
    ]


async def test_attachment_not_ready_is_retryable_then_succeeds(max_url: str, client: MaxClient, files: dict) -> None:
    await _configure(max_url, not_ready_seconds={"video": 0.6})
    video = await client.upload(TOKEN, MediaKind.video, files[MediaKind.video])

    with pytest.raises(MaxError) as first:
        await client.send(TOKEN, CHANNEL, "clip", [video])
    error = first.value
    assert (error.status, error.code, error.permanent, error.maybe_delivered) == (
        400,
        "attachment.not.ready",
        False,
        False,
    )
    assert error.retry_after == 0.2
    assert await _stored(max_url) == []

    async def send_when_ready():
        try:
            return await client.send(TOKEN, CHANNEL, "clip", [video])
        except MaxError as exc:
            assert exc.code == "attachment.not.ready"
            return None

    sent = await eventually(send_when_ready, "the video to be processed", within=10, interval=0.1)
    assert sent.attachment_types == ["video"]
    assert len(await _stored(max_url)) == 1


async def test_rate_limited_answer_carries_retry_after(max_url: str, client: MaxClient) -> None:
    await _configure(max_url, rate_limit_per_second=2)
    await client.me(TOKEN)
    await client.me(TOKEN)
    with pytest.raises(MaxError) as limited:
        await client.me(TOKEN)
    error = limited.value
    assert (error.status, error.code, error.permanent) == (429, "too.many.requests", False)
    assert 0 < error.retry_after <= 1.0

    await Emulator(max_url).fault(path="/me", kind="status", status=429, retry_after=7)
    await _configure(max_url, rate_limit_per_second=0)
    with pytest.raises(MaxError) as injected:
        await client.me("another-token")
    assert (injected.value.status, injected.value.retry_after) == (429, 7.0)


async def test_other_client_errors_are_permanent(max_url: str, client: MaxClient) -> None:
    with pytest.raises(MaxError) as too_long:
        await client.send(TOKEN, CHANNEL, "x" * 4001)
    assert (too_long.value.status, too_long.value.code, too_long.value.permanent) == (400, "proto.payload", True)
    assert too_long.value.retry_after is None

    await _configure(max_url, strict=True)
    with pytest.raises(MaxError) as bad_token:
        await client.me("revoked-token")
    assert (bad_token.value.status, bad_token.value.code, bad_token.value.permanent) == (401, "verify.token", True)

    await Emulator(max_url).control("POST", "/_emulator/max/bots", token=TOKEN)
    with pytest.raises(MaxError) as no_chat:
        await client.send(TOKEN, 12345, "hello")
    assert (no_chat.value.status, no_chat.value.code, no_chat.value.permanent) == (404, "chat.not.found", True)


async def test_server_errors_are_retryable(max_url: str, client: MaxClient) -> None:
    await Emulator(max_url).fault(path="/messages", kind="status", status=503)
    with pytest.raises(MaxError) as failed:
        await client.send(TOKEN, CHANNEL, "hello")
    assert (failed.value.status, failed.value.permanent, failed.value.retry_after) == (503, False, None)
    assert await _stored(max_url) == []


def _post(text: str, media: int = 0) -> Post:
    files = [Media(kind=MediaKind.image, ref=f"p{i}") for i in range(media)]
    return Post(
        id=9, date=datetime(2025, 1, 1, tzinfo=UTC), text=text, entities=[ent(text, "bold", "Launch")], media=files
    )


async def test_accepted_then_dropped_send_is_found_in_the_channel(max_url: str, client: MaxClient, files: dict) -> None:
    await _configure(max_url, not_ready_seconds=0)
    (message,) = plan_post(_post("Launch day: *everything* ships", media=1))
    photo = await client.upload(TOKEN, MediaKind.image, files[MediaKind.image])
    before = (await client.send(TOKEN, CHANNEL, "an earlier post")).timestamp
    await Emulator(max_url).fault(path="/messages", kind="drop_after", times=1)

    with pytest.raises(MaxError) as dropped:
        await client.send(TOKEN, CHANNEL, message.markdown, [photo])
    assert dropped.value.status is None
    assert dropped.value.maybe_delivered is True
    assert dropped.value.permanent is False

    recent = await client.recent_messages(TOKEN, CHANNEL, count=10)
    found = find_delivered(recent, message, since_ms=before)
    assert found is not None
    assert found.mid == (await _stored(max_url))[-1]["body"]["mid"]
    assert found.text == "Launch day: *everything* ships"
    assert find_delivered(recent, message, exclude_mids={found.mid}) is None
    (other,) = plan_post(_post("Launch day: nothing ships", media=1))
    assert find_delivered(recent, other) is None


async def test_dropped_before_acceptance_is_not_found(max_url: str, client: MaxClient) -> None:
    (message,) = plan_post(_post("Launch is postponed"))
    await Emulator(max_url).fault(path="/messages", kind="drop", times=1)
    with pytest.raises(MaxError) as dropped:
        await client.send(TOKEN, CHANNEL, message.markdown)
    assert dropped.value.maybe_delivered is True  # the client cannot tell the two drops apart...
    assert find_delivered(await client.recent_messages(TOKEN, CHANNEL), message) is None  # ...the channel can


async def test_connection_refused_was_not_delivered() -> None:
    async with MaxClient("http://127.0.0.1:9", LocalRateLimiter(1000)) as unreachable:
        with pytest.raises(MaxError) as refused:
            await unreachable.send(TOKEN, CHANNEL, "hello")
    assert (refused.value.status, refused.value.maybe_delivered, refused.value.permanent) == (None, False, False)


async def test_reading_back_newest_first_with_paging(client: MaxClient) -> None:
    sent = [await client.send(TOKEN, CHANNEL, f"post {i}") for i in range(7)]
    newest_two = await client.recent_messages(TOKEN, CHANNEL, count=2)
    assert [m.text for m in newest_two] == ["post 6", "post 5"]
    older = await client.recent_messages(TOKEN, CHANNEL, count=100, from_=newest_two[-1].timestamp)
    assert {m.mid for m in older} >= {m.mid for m in sent[:6]}
    everything = await client.messages_since(TOKEN, CHANNEL, sent[2].timestamp)
    assert [m.text for m in everything][:5] == ["post 6", "post 5", "post 4", "post 3", "post 2"]
    assert all(m.timestamp >= sent[2].timestamp for m in everything)


async def test_upload_streams_the_file(max_url: str, client: MaxClient, tmp_path: Path) -> None:
    await _configure(max_url, not_ready_seconds=0)
    big = tmp_path / "big.mp4"
    with big.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    tracemalloc.start()
    try:
        ref = await client.upload(TOKEN, MediaKind.video, big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"uploading 64 MB allocated {peak / 1e6:.1f} MB at peak"
    await client.send(TOKEN, CHANNEL, "", [ref])
    (stored,) = await _stored(max_url)
    assert stored["body"]["attachments"][0]["type"] == "video"


async def test_a_chat_limiter_keeps_sends_under_the_chat_limit(max_url: str, client: MaxClient) -> None:
    await _configure(max_url, chat_messages_per_second=2)
    await client.send(TOKEN, CHANNEL, "one")
    await client.send(TOKEN, CHANNEL, "two")
    with pytest.raises(MaxError) as limited:
        await client.send(TOKEN, CHANNEL, "three")
    assert (limited.value.status, limited.value.permanent) == (429, False)
    assert limited.value.retry_after > 0

    paced = MaxClient(max_url, LocalRateLimiter(1000), chat_limiter=LocalRateLimiter(2, headroom=0.1))
    async with paced:
        for n in range(4):
            await paced.send(TOKEN, CHANNEL - 1, f"paced {n}")  # another chat: its own limit
    assert [m["body"]["text"] for m in await _stored(max_url, CHANNEL - 1)] == [f"paced {n}" for n in range(4)]
