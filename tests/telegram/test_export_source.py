"""ExportSource and check_export over Telegram Desktop exports written by the generator: the same channel reads the
same from the export as through pyrogram, broken exports are refused with what is wrong, files stay inside."""

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clients.telegram import PyrogramSource
from clients.telegram_export import ExportInvalid, ExportSource, check_export
from devstack.clients import Emulator
from domain.posts import Post, PostKind, SourceError
from emulators.telegram_channel import ChannelSpec, generate, media_bytes
from emulators.telegram_export_gen import write_export
from settings import Settings
from tests.telegram.expected import albums, entity_spans

CHANNEL = "gen_1200_s5"


async def read_all(source, limit: int = 100) -> list[Post]:
    posts, after_id = [], 0
    while True:
        page = await source.page(after_id, limit)
        posts += page.posts
        after_id = page.after_id
        if page.done:
            return posts


def shape(post: Post) -> tuple:
    return (post.id, post.member_ids, post.kind, post.text, entity_spans(post), [m.kind for m in post.media])


async def test_export_and_pyrogram_read_the_same_channel_the_same(
    settings: Settings, stand_in: Emulator, tmp_path: Path
) -> None:
    write_export(CHANNEL, tmp_path / "export")
    async with PyrogramSource.from_settings(settings, f"@{CHANNEL}") as live:
        from_telegram = await read_all(live)
        live_count = await live.count()
    async with ExportSource(tmp_path / "export") as export:
        from_export = await read_all(export, limit=37)  # other page boundaries: the posts must not care
        export_count = await export.count()

    assert [shape(p) for p in from_export] == [shape(p) for p in from_telegram]
    assert live_count == export_count == 1200
    assert [p.member_ids for p in from_export] == albums(ChannelSpec.parse(CHANNEL))
    undated = {m.id for m in generate(ChannelSpec.parse(CHANNEL)) if m.other == "dice"}  # Desktop writes no date
    for exported, live_post in zip(from_export, from_telegram, strict=True):
        if exported.id not in undated:
            assert exported.date == live_post.date
            assert exported.skip_reason == live_post.skip_reason
    assert any(len(p.member_ids) > 1 for p in from_export), "albums found again without an album id"


async def test_files_the_export_left_out_are_a_skip_reason(tmp_path: Path) -> None:
    spec = ChannelSpec.parse(CHANNEL)
    album = next(ids for ids in albums(spec) if len(ids) > 2)
    single = next(m.id for m in generate(spec) if m.media and m.media.kind == "video" and not m.grouped_id)
    write_export(CHANNEL, tmp_path / "export", leave_out={album[1], single})

    summary = await check_export(tmp_path / "export")
    async with ExportSource(tmp_path / "export") as export:
        posts = {p.id: p for p in await export.posts([album[0], single])}

    assert summary.media_not_included == 2
    assert posts[single].kind == PostKind.unsupported
    assert posts[single].skip_reason == "file not in the export: File not included"
    assert posts[album[0]].member_ids == album, "the album is still one post"
    assert posts[album[0]].kind == PostKind.unsupported, "a partial album is not published as if whole"


async def test_download_copies_the_exported_file(tmp_path: Path) -> None:
    spec = ChannelSpec.parse(CHANNEL)
    write_export(CHANNEL, tmp_path / "export")
    dest = tmp_path / "out"
    async with ExportSource(tmp_path / "export") as export:
        post = next(p for p in await read_all(export) if p.media and p.media[0].file_name)
        first = await export.download(post.media[0], dest)
        second = await export.download(post.media[0], dest)

    expected = media_bytes(spec, post.id, next(m for m in generate(spec) if m.id == post.id).media)
    assert first.read_bytes() == second.read_bytes() == expected
    assert first.name == post.media[0].file_name and first != second
    assert first.parent == second.parent == dest


async def test_check_export_summarises_a_good_export(tmp_path: Path) -> None:
    write_export("gen_50", tmp_path / "export")
    messages = generate(ChannelSpec.parse("gen_50"))

    summary = await check_export(str(tmp_path / "export"))

    assert summary.channel_name == ChannelSpec.parse("gen_50").title
    assert summary.channel_type == "public_channel"
    assert summary.message_count == 50
    assert summary.first_date == datetime.fromtimestamp(messages[0].date, UTC)
    assert summary.last_date == datetime.fromtimestamp(messages[-1].date, UTC)
    assert summary.media_files == sum(1 for m in messages if m.media)


async def test_check_export_names_what_is_wrong(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = _export_dir(tmp_path / "broken", '{\n "name": "x",\n "messages": [\n  {"id": 1,, }\n ]\n}\n')
    account = _export_dir(tmp_path / "account", json.dumps({"about": "x", "chats": {"list": []}}))
    no_id = _export_dir(tmp_path / "no-id", json.dumps({"name": "x", "messages": [{"type": "message"}]}))

    cases = {
        missing: f"directory {missing} does not exist",
        empty: "has no result.json",
        broken: "result.json is not valid JSON at line 4, column 12",
        account: "result.json has no messages list",
        no_id: "message #1 of result.json has no numeric id",
    }
    for path, message in cases.items():
        with pytest.raises(ExportInvalid, match=message.replace("(", r"\(")):
            await check_export(path)
    with pytest.raises(ExportInvalid, match="is not under"):
        await check_export(empty, within=tmp_path / "elsewhere")


@pytest.mark.parametrize("path", ["../outside.jpg", "photos/../../outside.jpg", "/etc/passwd", "C:\\x.jpg"])
async def test_paths_that_leave_the_export_are_refused(tmp_path: Path, path: str) -> None:
    message = {"id": 1, "type": "message", "date_unixtime": "1700000000", "photo": path, "text": ""}
    export = _export_dir(tmp_path / "export", json.dumps({"name": "x", "messages": [message]}))

    with pytest.raises(ExportInvalid, match="leaves the export directory"):
        await check_export(export)
    async with ExportSource(export) as source:
        with pytest.raises(SourceError) as raised:
            await source.page(0)
    assert raised.value.permanent


async def test_a_link_out_of_the_export_is_refused_at_download(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    message = {"id": 1, "type": "message", "date_unixtime": "1700000000", "file": "files/notes.txt", "text": ""}
    export = _export_dir(tmp_path / "export", json.dumps({"name": "x", "messages": [message]}))
    (export / "files").mkdir()
    os.symlink(secret, export / "files" / "notes.txt")

    async with ExportSource(export) as source:
        (post,) = (await source.page(0)).posts
        with pytest.raises(SourceError, match="leaves the export directory") as raised:
            await source.download(post.media[0], tmp_path / "out")

    assert raised.value.permanent
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


async def test_a_reader_checks_the_export_as_the_api_does_and_names_it_under_the_exports_dir(tmp_path: Path) -> None:
    """What a worker's ExportSource refuses, and how it says so: by the path under the exports directory (the same
    on every host that mounts it), permanently, whichever of the checks the API makes at save fails."""
    exports, elsewhere = tmp_path / "exports", tmp_path / "elsewhere"
    message = {"id": 1, "type": "message", "date_unixtime": "1700000000", "text": "hi"}
    result = json.dumps({"name": "x", "messages": [message]})
    good = _export_dir(exports / "good", result)
    _export_dir(elsewhere / "theirs", result)
    os.symlink(elsewhere / "theirs", exports / "swapped")
    _export_dir(exports / "large", result + " " * 2048)
    (exports / "linked").mkdir()
    os.symlink(elsewhere / "theirs" / "result.json", exports / "linked" / "result.json")

    async with ExportSource(good, within=exports, max_bytes=2048) as source:
        assert await source.count() == 1
    cases = {
        exports / "gone": "directory gone does not exist",
        exports / "swapped": "directory swapped leads out of the exports directory",
        elsewhere / "theirs": f"directory {elsewhere / 'theirs'} is not under the exports directory {exports}",
        exports / "large": f"large/result.json is {len(result) + 2048} bytes, more than the 2048 taken",
        exports / "linked": "linked/result.json leads out of the export directory",
    }
    for path, says in cases.items():
        with pytest.raises(ExportInvalid, match=re.escape(says)):
            await check_export(path, within=exports, max_bytes=2048)
        async with ExportSource(path, within=exports, max_bytes=2048) as source:
            with pytest.raises(SourceError, match=re.escape(says)) as raised:
                await source.count()
        assert raised.value.permanent


async def test_an_export_swapped_for_a_link_out_is_refused_at_download(tmp_path: Path) -> None:
    exports, elsewhere = tmp_path / "exports", tmp_path / "elsewhere"
    message = {"id": 1, "type": "message", "date_unixtime": "1700000000", "file": "files/notes.txt", "text": ""}
    result = json.dumps({"name": "x", "messages": [message]})
    export = _export_dir(exports / "channel", result)
    (export / "files").mkdir()
    (export / "files" / "notes.txt").write_text("the channel's")
    (elsewhere / "files").mkdir(parents=True)
    (elsewhere / "files" / "notes.txt").write_text("not yours")

    async with ExportSource(export, within=exports) as source:
        (post,) = (await source.page(0)).posts
        export.rename(tmp_path / "moved")
        os.symlink(elsewhere, export)  # after the page was read, before its file is copied out
        with pytest.raises(SourceError, match="directory channel leads out of the exports directory") as raised:
            await source.download(post.media[0], tmp_path / "out")
    assert raised.value.permanent


async def test_desktop_text_parts_become_utf16_entities(tmp_path: Path) -> None:
    text = [
        "Привет 👋🏽 ",
        {"type": "bold", "text": "жирный 🚀"},
        " и ",
        {"type": "text_link", "text": "ссылка", "href": "https://example.com/a"},
        {"type": "text_link", "text": " плохая", "href": "javascript:alert(1)"},
        " ",
        {"type": "pre", "text": "print(1)", "language": "python"},
        {"type": "link", "text": " https://x.org"},
        {"type": "bank_card", "text": " 4111"},
    ]
    message = {"id": 7, "type": "message", "date_unixtime": "1700000000", "text": text}
    export = _export_dir(tmp_path / "export", json.dumps({"name": "x", "messages": [message]}, ensure_ascii=False))

    async with ExportSource(export) as source:
        (post,) = (await source.page(0)).posts

    assert post.text == "Привет 👋🏽 жирный 🚀 и ссылка плохая print(1) https://x.org 4111"
    assert entity_spans(post) == [
        ("bold", 12, 9, None, None),
        ("text_link", 24, 6, "https://example.com/a", None),
        ("pre", 38, 8, None, "python"),
        ("url", 46, 14, None, None),
    ]


def _export_dir(path: Path, result: str) -> Path:
    path.mkdir(parents=True)
    (path / "result.json").write_text(result, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "dated",
    [
        {"date_unixtime": "253402300800"},  # 10000-01-01: ValueError
        {"date_unixtime": "9" * 30},  # OverflowError
        {"date": "9999-12-31T23:00:00-05:00"},  # past the last UTC date: OverflowError
    ],
)
async def test_an_impossible_date_is_a_refused_check_and_a_skipped_post(tmp_path: Path, dated: dict) -> None:
    messages = [
        {"id": 1, "type": "message", "date_unixtime": "1700000000", "text": "before"},
        {"id": 2, "type": "message", "text": "bad", **dated},
        {"id": 3, "type": "message", "date_unixtime": "1700000100", "text": "after"},
    ]
    export = _export_dir(tmp_path / "export", json.dumps({"name": "x", "messages": messages}))

    with pytest.raises(ExportInvalid, match="message 2: date"):
        await check_export(export)
    async with ExportSource(export) as source:
        posts = {p.id: p for p in (await source.page(0)).posts}
        assert await source.count() == 3

    assert [posts[1].text, posts[3].text] == ["before", "after"] and posts[3].kind == PostKind.content
    assert posts[2].kind == PostKind.unsupported and posts[2].skip_reason.startswith("unreadable date")
