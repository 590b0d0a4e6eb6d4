"""A media file is streamed to disk and bounded (LONGRUN_MEDIA_MAX_BYTES): refused by its declared size before a
byte is fetched, and stopped mid-stream when it turns out larger than declared; either is final for the post."""

import asyncio
from pathlib import Path

import pytest

from clients.telegram import PyrogramSource
from devstack.clients import Emulator
from domain.posts import SourceError
from settings import Settings

CHANNEL = "gen_60_m1500000"  # files of 1.5 MB: two 1 MiB chunks each
GET_FILE = "/rpc/upload.GetFile"


async def test_a_file_past_the_cap_is_refused_for_good(settings: Settings, stand_in: Emulator, tmp_path: Path):
    capped = settings.model_copy(update={"media_max_bytes": 2**20})
    async with PyrogramSource.from_settings(capped, f"@{CHANNEL}") as source:
        media = next(p for p in (await source.page(0)).posts if p.media).media[0]
        assert media.size is not None and media.size > 2**20
        with pytest.raises(SourceError, match="LONGRUN_MEDIA_MAX_BYTES") as declared:
            await source.download(media, tmp_path)
        assert await stand_in.requests(GET_FILE) == 0
        # A size the sender understated: the bytes that arrive count, and the stream stops at the cap.
        with pytest.raises(SourceError, match="LONGRUN_MEDIA_MAX_BYTES") as streamed:
            await source.download(media.model_copy(update={"size": None}), tmp_path)

    assert declared.value.permanent and streamed.value.permanent
    assert await stand_in.requests(GET_FILE) == 2, "stopped after the chunk that passed the cap"
    assert await asyncio.to_thread(lambda: list(tmp_path.iterdir())) == [], "no partial file is left behind"
