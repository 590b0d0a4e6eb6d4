"""A Telegram Desktop export ("Export chat history", JSON) of a channel, as a `PostSource`, and its check.

The export is a directory: `result.json` (`name`, `type`, `id`, `messages[]`) and the files it refers to by
paths relative to the directory. `result.json` is streamed with ijson, in a thread, never on an event loop: a
large channel's export runs to hundreds of megabytes. It is read once per (directory, size, modification time)
and kept, so every page of a migration reads from memory.

Desktop's JSON has no album id (tdesktop writes no `grouped_id`; see its issue #16890). An album's members are
sent together, so they are consecutive messages with the same second and media that can share an album (photos
and videos, or documents, or audio files): such runs of two to ten messages become an album here. A
`media_group_id` or `grouped_id` field, which other exporters write, is used instead when present.

Every file path must stay inside the directory: an absolute path or one with `..` makes the export invalid, and
a path that leaves it through a symbolic link is refused at download.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import ijson
from pydantic import BaseModel

from clients.media_files import reserve_path
from clients.telegram_export_messages import (
    EPOCH,
    UnreadableDate,
    export_date,
    export_post,
    media_paths,
    not_included,
)
from domain.albums import ALBUM_MAX, hold_back_last_album, merge_albums
from domain.posts import Media, Page, Post, SourceError

RESULT_FILE = "result.json"
_CACHED_EXPORTS = 4
_DRIVE = re.compile(r"^[A-Za-z]:")


class ExportInvalid(ValueError):
    """The directory is not a usable Telegram Desktop export; the message says what is wrong with it."""


class ExportSummary(BaseModel):
    channel_name: str
    channel_type: str | None = None  # public_channel, private_channel...
    message_count: int
    first_date: datetime | None = None
    last_date: datetime | None = None
    media_files: int = 0  # files the export holds
    media_not_included: int = 0  # files Desktop left out ("File not included"): those posts will be skipped
    # Messages whose content cannot be read (an impossible date): a job skips them, a check refuses the export.
    unreadable: int = 0
    first_unreadable: str | None = None


@dataclass(frozen=True)
class LoadedExport:
    summary: ExportSummary
    messages: tuple[Post, ...]  # one post per message, ascending ids, album ids assigned
    ids: tuple[int, ...]


async def check_export(path: str | Path, *, within: Path | None = None, max_bytes: int | None = None) -> ExportSummary:
    """What the export at `path` holds, or ExportInvalid saying what is wrong; reads it in a thread.

    `within`: the directory exports must be under (the path is refused otherwise); `max_bytes`: the largest
    result.json taken.
    """
    return await asyncio.to_thread(check_export_blocking, Path(path), within, max_bytes)


def check_export_blocking(path: Path, within: Path | None = None, max_bytes: int | None = None) -> ExportSummary:
    """`check_export` in the calling thread: for code already off the event loop. Stricter than `open_export`: a
    message that cannot be read refuses the export here, where a person can fix it, while a job skips it."""
    summary = open_export(path, within, max_bytes).summary
    if summary.unreadable:
        more = f" (and {summary.unreadable - 1} more)" if summary.unreadable > 1 else ""
        raise ExportInvalid(f"{summary.first_unreadable}{more}: fix or remove it before saving the channel")
    return summary


def open_export(path: Path, within: Path | None = None, max_bytes: int | None = None) -> LoadedExport:
    """The export at `path`, taken as the API takes it when a channel is saved and a worker before it reads one
    (blocking): inside `within` once symbolic links are resolved, a directory with a result.json of at most
    `max_bytes` bytes, parseable. Raises ExportInvalid naming the directory by its path under `within`: the
    path as stored, which means the same on every host that mounts the exports directory."""
    shown = _shown(path.expanduser(), within)
    # Read through the resolved path from here on: a link swapped after this check does not redirect the read.
    directory = _stays_within(path.expanduser(), within)
    if not directory.is_dir():
        wrong = "does not exist" if not directory.exists() else "is not a directory"
        raise ExportInvalid(f"directory {shown} {wrong}")
    result = directory / RESULT_FILE
    if not result.is_file():
        raise ExportInvalid(f"directory {shown} has no {RESULT_FILE}: export the channel's history as JSON")
    if not result.resolve().is_relative_to(directory):
        raise ExportInvalid(f"{shown}/{RESULT_FILE} leads out of the export directory")
    stat = result.stat()
    if max_bytes is not None and stat.st_size > max_bytes:
        raise ExportInvalid(
            f"{shown}/{RESULT_FILE} is {stat.st_size} bytes, more than the {max_bytes} taken "
            "(LONGRUN_TELEGRAM_EXPORT_MAX_BYTES)"
        )
    return _load(result, stat)


def _stays_within(directory: Path, within: Path | None) -> Path:
    """`directory` resolved, refused (ExportInvalid) unless it is inside `within` once symbolic links are followed."""
    resolved = directory.resolve()
    if within is not None and not resolved.is_relative_to(within.resolve()):
        shown = _shown(directory, within)
        if shown != str(directory):  # named under the exports directory, resolving outside it: a link
            raise ExportInvalid(f"directory {shown} leads out of the exports directory")
        raise ExportInvalid(f"directory {shown} is not under the exports directory {within}")
    return resolved


def _shown(directory: Path, within: Path | None) -> str:
    """`directory` as a path under `within` (not resolved: a link's own name), else as given."""
    if within is not None:
        absolute, root = Path(os.path.abspath(directory)), Path(os.path.abspath(within.expanduser()))
        if absolute.is_relative_to(root) and absolute != root:
            return str(absolute.relative_to(root))
    return str(directory)


class ExportSource:
    """One export directory's messages as pages of posts, and its files copied out on request.

    `within` and `max_bytes`: the exports directory and the largest result.json, checked on every read as the
    API checked them when the channel was saved, since the export may have changed (or gone) since."""

    def __init__(self, export_dir: str | Path, *, within: Path | None = None, max_bytes: int | None = None) -> None:
        self._root = Path(export_dir).expanduser()
        self._within, self._max_bytes = within, max_bytes
        self._loaded: LoadedExport | None = None

    async def __aenter__(self) -> ExportSource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def count(self) -> int:
        return len((await self._export()).ids)

    async def page(self, after_id: int, limit: int = 100) -> Page:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        export = await self._export()
        messages, ids = export.messages, export.ids
        start = bisect_right(ids, after_id)
        end = min(start + limit, len(ids))
        batch = list(messages[start:end])
        if end < len(ids) and batch and batch[-1].album_id and messages[end].album_id == batch[-1].album_id:
            kept, held = hold_back_last_album(batch)
            if kept:
                batch = kept
            else:  # one album fills the whole page: take all of it rather than return nothing
                while end < len(ids) and messages[end].album_id == held[0].album_id:
                    batch.append(messages[end])
                    end += 1
        cursor = batch[-1].id if batch else after_id
        return Page(posts=merge_albums(batch), after_id=cursor, done=bisect_right(ids, cursor) >= len(ids))

    async def posts(self, ids: list[int]) -> list[Post]:
        export = await self._export()
        chosen: set[int] = set()
        for message_id in set(ids):
            at = bisect_right(export.ids, message_id) - 1
            if at < 0 or export.ids[at] != message_id:
                continue
            chosen.add(at)
            album_id = export.messages[at].album_id
            if album_id is not None:
                low, high = at, at
                while low > 0 and export.messages[low - 1].album_id == album_id:
                    low -= 1
                while high + 1 < len(export.ids) and export.messages[high + 1].album_id == album_id:
                    high += 1
                chosen.update(range(low, high + 1))
        return merge_albums([export.messages[i] for i in sorted(chosen)])

    async def download(self, media: Media, dest_dir: Path) -> Path:
        source = await asyncio.to_thread(self._file, media.ref)
        if not await asyncio.to_thread(source.is_file):
            raise SourceError(f"{media.ref} is missing from the export {self._shown}", permanent=True)
        target = reserve_path(dest_dir, media)
        try:
            await asyncio.to_thread(shutil.copyfile, source, target)
        except OSError as exc:
            target.unlink(missing_ok=True)
            raise SourceError(f"cannot copy {media.ref} out of the export: {exc}", permanent=False) from exc
        return target

    async def close(self) -> None:
        self._loaded = None

    async def _export(self) -> LoadedExport:
        if self._loaded is None:
            try:
                self._loaded = await asyncio.to_thread(open_export, self._root, self._within, self._max_bytes)
            except ExportInvalid as exc:
                raise SourceError(str(exc), permanent=True) from exc
            except OSError as exc:
                unreadable = f"cannot read the export {self._shown}: {exc.strerror or exc}"
                raise SourceError(unreadable, permanent=False) from exc
        return self._loaded

    @property
    def _shown(self) -> str:
        return _shown(self._root, self._within)

    def _file(self, ref: str) -> Path:
        """The file `ref` names, inside the export, itself inside the exports directory (blocking)."""
        if not path_stays_inside(ref):
            raise SourceError(f"{ref!r} is not a path inside the export", permanent=True)
        try:
            root = _stays_within(self._root, self._within)
        except ExportInvalid as exc:
            raise SourceError(str(exc), permanent=True) from exc
        path = (root / ref).resolve()
        if not path.is_relative_to(root):
            raise SourceError(f"{ref!r} leaves the export directory through a link", permanent=True)
        return path


def path_stays_inside(relative: str) -> bool:
    """True for a relative path with no `..`: one that cannot name anything outside the export by itself."""
    if not relative or "\x00" in relative or _DRIVE.match(relative):
        return False
    pure = PurePosixPath(relative.replace("\\", "/"))
    return not pure.is_absolute() and ".." not in pure.parts


# --------------------------------------------------------------------------- loading

_cache: OrderedDict[tuple, LoadedExport] = OrderedDict()
_cache_lock = threading.Lock()


def _load(result: Path, stat: os.stat_result) -> LoadedExport:
    """The export whose result.json `open_export` found, read once per (file, size, modification time)."""
    key = (str(result.resolve()), stat.st_size, stat.st_mtime_ns)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    loaded = _read(result)
    with _cache_lock:
        _cache[key] = loaded
        while len(_cache) > _CACHED_EXPORTS:
            _cache.popitem(last=False)
    return loaded


def _read(result: Path) -> LoadedExport:
    try:
        with result.open("rb") as stream:
            name, kind = _header(stream)
            stream.seek(0)
            items = ijson.items(stream, "messages.item", use_float=True)
            raw = [_checked(message, n) for n, message in enumerate(items)]
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        raise _not_json(result, exc) from exc
    raw.sort(key=lambda message: message["id"])
    albums = _album_ids(raw)
    posts, date = [], EPOCH
    for message, album_id in zip(raw, albums, strict=True):
        post = export_post(message, album_id=album_id, fallback_date=date)
        date = post.date
        posts.append(post)
    dates, unreadable = [], []
    for message in raw:
        try:
            if (d := export_date(message)) is not None:
                dates.append(d)
        except UnreadableDate as exc:
            unreadable.append(f"message {message['id']}: {exc}")
    summary = ExportSummary(
        channel_name=name,
        channel_type=kind,
        message_count=len(posts),
        first_date=min(dates, default=None),
        last_date=max(dates, default=None),
        media_files=sum(len(media_paths(message)) for message in raw),
        media_not_included=sum(1 for m in raw for key in ("photo", "file") if not_included(m.get(key))),
        unreadable=len(unreadable),
        first_unreadable=unreadable[0] if unreadable else None,
    )
    return LoadedExport(summary, tuple(posts), tuple(post.id for post in posts))


def _header(stream: BinaryIO) -> tuple[str, str | None]:
    """The channel's name and type, up to the start of `messages` (Desktop writes them first)."""
    name, kind, first = "", None, True
    for prefix, event, value in ijson.parse(stream):
        if first and event != "start_map":
            raise ExportInvalid(f"{RESULT_FILE} is not a Telegram export: its top level is not an object")
        first = False
        if prefix == "name" and event == "string":
            name = value
        elif prefix == "type" and event == "string":
            kind = value
        elif prefix == "messages" and event == "start_array":
            return name, kind
        elif prefix == "" and event == "end_map":
            break
    raise ExportInvalid(f"{RESULT_FILE} has no messages list (export one channel's history, not the whole account)")


def _checked(message: Any, n: int) -> dict[str, Any]:
    if not isinstance(message, dict) or isinstance(message.get("id"), bool) or not isinstance(message.get("id"), int):
        raise ExportInvalid(f"message #{n + 1} of {RESULT_FILE} has no numeric id")
    for path in media_paths(message):
        if not path_stays_inside(path):
            raise ExportInvalid(f"message {message['id']}: file path {path!r} leaves the export directory")
    return message


def _not_json(result: Path, exc: Exception) -> ExportInvalid:
    # ijson's C parser says what is wrong but not where: the standard parser says where (this path only runs
    # for a broken file).
    try:
        json.loads(result.read_bytes())
    except json.JSONDecodeError as err:
        return ExportInvalid(f"{RESULT_FILE} is not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}")
    except UnicodeDecodeError:
        return ExportInvalid(f"{RESULT_FILE} is not UTF-8 text")
    except ValueError as err:  # a number too long for Python's int (its digit limit), say
        return ExportInvalid(f"{RESULT_FILE} could not be read: {str(err)[:200]}")
    return ExportInvalid(f"{RESULT_FILE} could not be read: {exc}")


def _album_ids(messages: list[dict[str, Any]]) -> list[str | None]:
    """Each message's album id: the exporter's own, else one for runs of the same second (see the module doc)."""
    albums: list[str | None] = [None] * len(messages)
    for key, run in groupby(range(len(messages)), key=lambda i: _album_key(messages[i])):
        if key is None:
            continue
        members = list(run)
        if key[0] == "explicit":
            for i in members:
                albums[i] = str(key[1])
            continue
        for first in range(0, len(members), ALBUM_MAX):
            chunk = members[first : first + ALBUM_MAX]
            if len(chunk) > 1:
                for i in chunk:
                    albums[i] = f"export-{messages[chunk[0]]['id']}"
    return albums


def _album_key(message: dict[str, Any]) -> tuple | None:
    explicit = message.get("media_group_id") or message.get("grouped_id")
    if explicit:
        return ("explicit", explicit)
    if message.get("type") != "message":
        return None
    if "photo" in message:
        family = "visual"
    elif "file" in message:
        family = {None: "document", "video_file": "visual", "audio_file": "audio"}.get(message.get("media_type"))
    else:
        family = None
    second = message.get("date_unixtime") or message.get("date")
    return ("second", second, family) if family and second else None
