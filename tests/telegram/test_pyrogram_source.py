"""PyrogramSource against the Telegram stand-in: pyrogram's own paging, parsing and downloads over the emulated
MTProto boundary, checked against what the channel generator says the channel holds."""

from pathlib import Path

import pytest

from clients.telegram import PyrogramSource
from devstack.clients import Emulator
from domain.posts import MediaKind, Page, PostKind, SourceError
from emulators.telegram_channel import ChannelSpec, generate, media_bytes
from settings import Settings
from tests.telegram.expected import MEDIA_KINDS, albums, entity_spans, expected_entities, expected_kind, utf16_slice

CHANNEL = "gen_1500"
HISTORY = "/rpc/messages.GetHistory"


async def read_pages(source, limit: int = 100) -> list[Page]:
    pages, after_id = [], 0
    while True:
        page = await source.page(after_id, limit)
        pages.append(page)
        after_id = page.after_id
        if page.done:
            return pages


async def test_history_comes_oldest_first_in_pages_with_every_message_once_and_albums_whole(
    settings: Settings, stand_in: Emulator
) -> None:
    spec = ChannelSpec.parse(CHANNEL)
    async with PyrogramSource.from_settings(settings, f"@{CHANNEL}") as source:
        pages = await read_pages(source)

    posts = [post for page in pages for post in page.posts]
    ids = [i for post in posts for i in post.member_ids]
    assert [post.member_ids for post in posts] == albums(spec)
    assert ids == [m.id for m in generate(spec)], "every message once, ascending"
    for page in pages:
        covered = [i for post in page.posts for i in post.member_ids]
        assert len(covered) <= 100
        assert page.after_id == (covered[-1] if covered else page.after_id)
    # Some page ended inside an album and left it whole for the next one.
    assert any(len([i for p in page.posts for i in p.member_ids]) < 100 and not page.done for page in pages)
    assert all(post.id == post.member_ids[0] and post.date.tzinfo is not None for post in posts)
    assert await stand_in.requests(HISTORY) == len(pages), "one messages.getHistory call per page"


async def test_kinds_media_and_texts_are_normalised(settings: Settings, stand_in: Emulator) -> None:
    spec = ChannelSpec.parse(CHANNEL)
    generated = {m.id: m for m in generate(spec)}
    async with PyrogramSource.from_settings(settings, f"@{CHANNEL}") as source:
        posts = [post for page in await read_pages(source) for post in page.posts]

    for post in posts:
        members = [generated[i] for i in post.member_ids]
        assert (post.kind, post.skip_reason if post.kind != PostKind.service else None) == expected_kind(members[0])
        assert [m.kind for m in post.media] == [MEDIA_KINDS[g.media.kind] for g in members if g.media]
        assert post.text == next((g.text for g in members if g.text), "")
    services = [p for p in posts if p.kind == PostKind.service]
    assert {p.skip_reason for p in services} == {"channel_chat_created", "pinned_message", "new_chat_title"}
    assert {p.skip_reason for p in posts if p.kind == PostKind.unsupported} == {
        "poll", "location", "venue", "contact", "dice"
    }  # fmt: skip
    albums_posts = [p for p in posts if len(p.member_ids) > 1]
    assert albums_posts and all(p.album_id and len(p.media) == len(p.member_ids) for p in albums_posts)
    assert any(p.text and p.media[0] for p in albums_posts), "an album's caption comes with it"


async def test_entities_keep_telegrams_utf16_offsets(settings: Settings, stand_in: Emulator) -> None:
    spec = ChannelSpec.parse(CHANNEL)
    generated = {m.id: m for m in generate(spec)}
    async with PyrogramSource.from_settings(settings, f"@{CHANNEL}") as source:
        posts = [post for page in await read_pages(source) for post in page.posts]

    with_entities = [p for p in posts if p.entities]
    for post in with_entities:
        gen = next(generated[i] for i in post.member_ids if generated[i].text)
        assert entity_spans(post) == expected_entities(gen)
    astral = [p for p in with_entities if len(p.text) != len(p.text.encode("utf-16-le")) // 2]
    assert astral, "the channel has emoji beyond the BMP, where UTF-16 offsets differ from str indices"
    # The spans cut the text where the generator put each entity's words, counted in UTF-16 units.
    for post in astral:
        gen = next(generated[i] for i in post.member_ids if generated[i].text)
        wanted = {(e.offset, e.length): e for e in gen.entities}
        for entity in post.entities:
            original = wanted[(entity.offset, entity.length)]
            assert utf16_slice(post.text, entity.offset, entity.length) == utf16_slice(
                gen.text, original.offset, original.length
            )
    dropped = [e for m in generated.values() for e in m.entities if e.type == "text_link" and "://" not in e.url]
    assert dropped and not any(e.url and not e.url.startswith("http") for p in posts for e in p.entities)


async def test_floodwait_surfaces_with_exactly_telegrams_value(settings: Settings, stand_in: Emulator) -> None:
    await stand_in.fault(path=HISTORY, kind="rpc_error", status=420, error_message="FLOOD_WAIT_37", times=1)
    async with PyrogramSource.from_settings(settings, f"@{CHANNEL}") as source:
        with pytest.raises(SourceError) as raised:
            await source.page(0)
        retried = await source.page(0)

    assert raised.value.retry_after == 37
    assert raised.value.permanent is False
    assert len(retried.posts) > 0
    assert await stand_in.requests(HISTORY) == 2, "pyrogram did not sleep the FloodWait away and retry by itself"


async def test_missing_private_and_unconfigured_channels_are_permanent(settings: Settings, stand_in: Emulator) -> None:
    for channel in ("@no_such_channel", "https://t.me/private_news"):
        async with PyrogramSource.from_settings(settings, channel) as source:
            with pytest.raises(SourceError) as raised:
                await source.page(0)
        assert raised.value.permanent, channel
    with pytest.raises(SourceError) as unconfigured:
        PyrogramSource.from_settings(Settings(telegram_emulator_url="", telegram_session="", _env_file=None), "@x")
    assert unconfigured.value.permanent and "LONGRUN_TELEGRAM_SESSION" in str(unconfigured.value)


async def test_connection_failures_are_retried_by_pyrogram_then_transient(
    settings: Settings, stand_in: Emulator
) -> None:
    async with PyrogramSource.from_settings(settings, f"@{CHANNEL}") as source:
        await stand_in.fault(path=HISTORY, kind="drop", times=1)
        page = await source.page(0)
        await stand_in.fault(path=HISTORY, kind="status", status=503)
        with pytest.raises(SourceError) as raised:
            await source.page(page.after_id)

    assert len(page.posts) > 0
    assert raised.value.permanent is False and raised.value.retry_after is None


async def test_downloads_are_the_generated_bytes_in_pyrogram_chunks(
    settings: Settings, stand_in: Emulator, tmp_path: Path
) -> None:
    name = "gen_60_m1500000"
    spec = ChannelSpec.parse(name)
    generated = {m.id: m for m in generate(spec)}
    dest = tmp_path
    async with PyrogramSource.from_settings(settings, f"@{name}") as source:
        posts = (await source.page(0)).posts
        post = next(p for p in posts if len(p.media) == 1 and p.media[0].kind == MediaKind.image)
        path = await source.download(post.media[0], dest)
        again = await source.download(post.media[0], dest)
        named = next(p for p in posts if p.media and p.media[0].file_name)
        named_path = await source.download(named.media[0], dest)

    expected = media_bytes(spec, post.id, generated[post.id].media)
    assert path.read_bytes() == expected and again.read_bytes() == expected
    assert path != again and path.parent == again.parent == dest, "a second file of the same name gets its own"
    assert named_path.name == named.media[0].file_name
    assert named_path.read_bytes() == media_bytes(spec, named.id, generated[named.id].media)
    assert await stand_in.requests("/rpc/upload.GetFile") == 6, "three 1.5 MB files, two 1 MiB chunks each"


async def test_posts_reads_messages_again_with_their_albums_whole(settings: Settings, stand_in: Emulator) -> None:
    spec = ChannelSpec.parse(CHANNEL)
    album = next(ids for ids in albums(spec) if len(ids) >= 3)
    single = next(ids[0] for ids in albums(spec) if len(ids) == 1 and ids[0] > album[-1])
    async with PyrogramSource.from_settings(settings, f"@{CHANNEL}") as source:
        posts = await source.posts([single, album[1], 999_999])

    assert [p.member_ids for p in posts] == [album, [single]]
    assert len(posts[0].media) == len(album)


async def test_a_page_smaller_than_an_album_still_keeps_it_whole(settings: Settings, stand_in: Emulator) -> None:
    spec = ChannelSpec.parse(CHANNEL)
    groups = albums(spec)
    at = next(i for i, ids in enumerate(groups) if len(ids) >= 5 and i > 0 and len(groups[i - 1]) == 1)
    album, before = groups[at], groups[at - 1][0]
    async with PyrogramSource.from_settings(settings, f"@{CHANNEL}") as source:
        cut = await source.page(before - 1, limit=3)  # the message before the album, then the album's start
        alone = await source.page(before, limit=3)  # the album alone is bigger than the page

    assert [p.member_ids for p in cut.posts] == [[before]] and cut.after_id == before and not cut.done
    assert [p.member_ids for p in alone.posts] == [album] and alone.after_id == album[-1]


async def test_count_is_the_channels_message_count(settings: Settings, stand_in: Emulator) -> None:
    async with PyrogramSource.from_settings(settings, "@gen_777_s3") as source:
        assert await source.count() == 777


async def test_a_long_floodwait_on_a_download_surfaces_too(
    settings: Settings, stand_in: Emulator, tmp_path: Path
) -> None:
    async with PyrogramSource.from_settings(settings, f"@{CHANNEL}") as source:
        post = next(p for p in (await source.page(0)).posts if p.media)
        # pyrogram's get_file sleeps through FloodWaits of up to 30 s by itself; a longer one reaches the caller.
        await stand_in.fault(path="/rpc/upload.GetFile", kind="rpc_error", status=420, error_message="FLOOD_WAIT_45")
        with pytest.raises(SourceError) as raised:
            await source.download(post.media[0], tmp_path)

    assert raised.value.retry_after == 45 and not raised.value.permanent
