"""The Telegram stand-in over real loopback HTTP, spoken to by pyrogram itself through the stand-in client:
Telegram's history windows, its errors as pyrogram raises them, file downloads in pyrogram's chunks, fault rules
per TL method, and channels that are the same in every process."""

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from pyrogram import errors, raw, utils
from pyrogram.raw.core import TLObject

from clients.telegram_http import NoTelegramConnection, StandInClient, StandInSession
from devstack.clients import Emulator
from emulators.telegram_channel import (
    FIRST_DATE,
    INT32_MAX,
    MAX_GAP,
    MAX_MESSAGES,
    ChannelSpec,
    channel_digest,
    generate,
    media_bytes,
    widest_gap,
)

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "gen_300"


@pytest.fixture
async def client(telegram_url: str) -> AsyncIterator[StandInClient]:
    app = StandInClient("emulator-test", base_url=telegram_url, sleep_threshold=0, fetch_replies=False)
    assert await app.connect()
    yield app
    await app.disconnect()


@pytest.fixture
def stand_in(telegram_url: str) -> Emulator:
    return Emulator(telegram_url)


async def _history(app: StandInClient, peer, **window) -> list[int]:
    query = {"offset_id": 0, "offset_date": 0, "add_offset": 0, "limit": 100, "max_id": 0, "min_id": 0, "hash": 0}
    answer = await app.invoke(raw.functions.messages.GetHistory(peer=peer, **(query | window)), sleep_threshold=0)
    return [message.id for message in await utils.parse_messages(app, answer, replies=0)]


async def test_history_windows_are_placed_as_telegram_places_them(client: StandInClient) -> None:
    ids = [m.id for m in generate(ChannelSpec.parse(CHANNEL))]
    peer = await client.resolve_peer(f"@{CHANNEL}")

    newest = await _history(client, peer, limit=5)
    older = await _history(client, peer, offset_id=ids[-5], limit=3)
    newer_from = await _history(client, peer, offset_id=ids[10] + 1, add_offset=-4, limit=4)
    bounded = await _history(client, peer, min_id=ids[20], max_id=ids[25], limit=100)
    capped = await _history(client, peer, limit=500)

    assert newest == ids[-5:][::-1]
    assert older == ids[-8:-5][::-1]
    # Negative add_offset reaches back to newer messages: the window of 4 from ids[11] on, newest first.
    assert newer_from == ids[11:15][::-1]
    assert bounded == ids[21:25][::-1]
    assert len(capped) == 100, "Telegram answers at most 100 messages whatever the limit"


async def test_pyrogram_parses_the_generated_messages(client: StandInClient) -> None:
    spec = ChannelSpec.parse(CHANNEL)
    generated = {m.id: m for m in generate(spec)}
    peer = await client.resolve_peer(f"@{CHANNEL}")
    answer = await client.invoke(
        raw.functions.messages.GetHistory(
            peer=peer, offset_id=1, offset_date=0, add_offset=-100, limit=100, max_id=0, min_id=0, hash=0
        )
    )
    messages = await utils.parse_messages(client, answer, replies=0)

    assert answer.count == spec.count
    for message in messages:
        gen = generated[message.id]
        assert str.__str__(message.text or message.caption or "") == gen.text
        assert (message.service is not None) == (gen.service is not None)
        assert message.media_group_id == gen.grouped_id
        assert [(e.offset, e.length) for e in message.entities or message.caption_entities or []] == [
            (e.offset, e.length) for e in gen.entities
        ]
    assert any(m.media_group_id for m in messages) and any(m.poll for m in messages)


async def test_unknown_and_private_channels_fail_as_telegram_fails(client: StandInClient) -> None:
    with pytest.raises(errors.UsernameNotOccupied):
        await client.resolve_peer("@no_such_channel")
    peer = await client.resolve_peer("@private_news")
    with pytest.raises(errors.ChannelPrivate):
        await _history(client, peer)
    forged = raw.types.InputPeerChannel(channel_id=peer.channel_id, access_hash=peer.access_hash + 1)
    with pytest.raises(errors.ChannelInvalid):
        await _history(client, forged)


async def test_rpc_error_rule_raises_floodwait_with_its_value_then_is_spent(
    client: StandInClient, stand_in: Emulator
) -> None:
    peer = await client.resolve_peer(f"@{CHANNEL}")
    flood = {"kind": "rpc_error", "status": 420, "error_message": "FLOOD_WAIT_7", "times": 1}
    await stand_in.fault(path="/rpc/messages.GetHistory", **flood)

    with pytest.raises(errors.FloodWait) as raised:
        await _history(client, peer, limit=1)
    after = await _history(client, peer, limit=1)

    assert raised.value.value == 7
    assert len(after) == 1
    assert await stand_in.requests("/rpc/messages.GetHistory") == 2


async def test_http_failures_reach_pyrogram_as_connection_errors_it_retries(
    client: StandInClient, stand_in: Emulator
) -> None:
    peer = await client.resolve_peer(f"@{CHANNEL}")
    await stand_in.fault(path="/rpc/messages.GetHistory", kind="drop", times=1)
    await stand_in.fault(path="/rpc/messages.GetHistory", kind="status", status=503, times=1)

    ids = await client.invoke(
        raw.functions.messages.GetHistory(
            peer=peer, offset_id=0, offset_date=0, add_offset=0, limit=2, max_id=0, min_id=0, hash=0
        ),
        retry_delay=0,
    )

    assert len(ids.messages) == 2
    assert await stand_in.requests("/rpc/messages.GetHistory") == 3, "a drop, a 503, then the answer"


async def test_latency_rule_slows_each_page(client: StandInClient, stand_in: Emulator) -> None:
    peer = await client.resolve_peer(f"@{CHANNEL}")
    await stand_in.fault(path="/rpc/messages.GetHistory", kind="latency", latency_ms=300)
    loop = asyncio.get_running_loop()

    started = loop.time()
    await _history(client, peer, limit=1)
    elapsed = loop.time() - started

    assert elapsed >= 0.3


async def test_download_runs_through_a_media_session_in_pyrogram_chunks(
    client: StandInClient, stand_in: Emulator
) -> None:
    name = "gen_40_m1500000"  # files of 1.5 MB: two 1 MiB chunks each
    spec = ChannelSpec.parse(name)
    gen = next(m for m in generate(spec) if m.media is not None and m.media.kind == "photo")
    peer = await client.resolve_peer(f"@{name}")
    channel = raw.types.InputChannel(channel_id=peer.channel_id, access_hash=peer.access_hash)
    answer = await client.invoke(
        raw.functions.channels.GetMessages(channel=channel, id=[raw.types.InputMessageID(id=gen.id)])
    )
    (message,) = await utils.parse_messages(client, answer, replies=0)
    data = await client.download_media(message.photo.file_id, in_memory=True)
    sessions = [client.session, *client.media_sessions.values()]

    assert bytes(data.getbuffer()) == media_bytes(spec, gen.id, gen.media)
    assert await stand_in.requests("/rpc/upload.GetFile") == 2
    assert len(sessions) == 2 and all(isinstance(session, StandInSession) for session in sessions)


def test_the_stand_in_client_never_builds_a_telegram_connection() -> None:
    with pytest.raises(RuntimeError, match="network connection"):
        NoTelegramConnection(dc_id=2, server_address="149.154.167.51", port=443)
    app = StandInClient("offline", base_url="http://127.0.0.1:9")
    assert app.connection_factory is NoTelegramConnection


async def test_garbage_body_is_an_rpc_error_not_a_crash(telegram_url: str) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{telegram_url}/rpc/messages.GetHistory", content=b"\x00\x01not tl")
    error = TLObject.read(BytesIO(answer.content))
    assert answer.status_code == 200
    assert (error.error_code, error.error_message) == (400, "INPUT_REQUEST_INVALID")


def test_every_process_generates_the_same_channel() -> None:
    code = "import sys; from emulators.telegram_channel import *; print(channel_digest(ChannelSpec.parse(sys.argv[1])))"
    for name in ("gen_500_s7", "bench_300"):
        other = subprocess.run(
            [sys.executable, "-c", code, name], cwd=ROOT, capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": "12345"},
        )  # fmt: skip
        assert other.stdout.strip() == channel_digest(ChannelSpec.parse(name))
    assert channel_digest(ChannelSpec.parse("gen_500_s7")) != channel_digest(ChannelSpec.parse("gen_500_s8"))


def test_channel_names_choose_size_seed_mix_and_file_size() -> None:
    bench = generate(ChannelSpec.parse("@bench_2000"))
    gen = generate(ChannelSpec.parse("gen_2000_m4096"))

    assert len(bench) == len(gen) == 2000
    assert {m.media.kind for m in bench if m.media} == {"photo"}
    assert not any(m.service or m.other for m in bench)
    assert {m.media.size for m in gen if m.media} == {4096}
    assert {"poll", "location", "venue", "contact", "dice"} <= {m.other for m in gen}
    assert {"create_channel", "pin_message", "edit_title"} <= {m.service for m in gen}
    assert gen[-1].id > len(gen), "deleted posts leave gaps in the ids"
    assert ChannelSpec.parse("gen_0") is None and ChannelSpec.parse("news") is None


def test_the_longest_channel_still_dates_its_posts_before_2038() -> None:
    # Telegram's dates are 32-bit: a channel of 143,000 posts at up to two hours apart overflowed them.
    assert FIRST_DATE + MAX_MESSAGES * widest_gap(MAX_MESSAGES) <= INT32_MAX
    assert widest_gap(1000) == MAX_GAP, "ordinary channels keep their spacing (and their generated content)"
