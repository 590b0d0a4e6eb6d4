"""A Telegram Desktop "Export chat history" (JSON) of a generated channel: the same ids, texts and files the
stand-in serves, so a migration can be tested from both sources with identical content.

The layout is what Telegram Desktop writes (`export/output/export_output_json.cpp`): `result.json` with the
channel's `name`, `type`, `id` and `messages`, and the files in folders beside it. As in Desktop's export:

- `text` is a string when the message has no entities, else a list of strings and `{"type", "text", ...}` parts;
  `text_entities` always lists every part, plain ones as `{"type": "plain"}`;
- albums carry no album id (Desktop writes none): their members are consecutive messages of the same second;
- media Desktop cannot export (dice) is written as `{"id": N, "type": "unsupported"}`, with no date;
- a file left out of the export is written as Desktop's "(File not included. Change data exporting settings to
  download.)" in place of its path (`leave_out`).

Run: ``python -m emulators.telegram_export_gen gen_1000 /tmp/export [--leave-out 12,15]``
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from pathlib import Path

from emulators.telegram_channel import ChannelSpec, GenEntity, GenMedia, GenMessage, generate, media_bytes

NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"

_PART_TYPES = {"url": "link", "phone_number": "phone", "text_mention": "mention_name"}
_ACTIONS = {"create_channel": "create_channel", "pin_message": "pin_message", "edit_title": "edit_group_title"}
_FOLDERS = {
    "photo": "photos", "video": "video_files", "animation": "video_files", "video_note": "round_video_messages",
    "audio": "files", "voice": "voice_messages", "sticker": "stickers", "document": "files",
}  # fmt: skip
_MEDIA_TYPES = {
    "video": "video_file", "animation": "animation", "video_note": "video_message", "audio": "audio_file",
    "voice": "voice_message", "sticker": "sticker",
}  # fmt: skip


def write_export(username: str, dest: Path, *, leave_out: Collection[int] = ()) -> Path:
    """Write the export of channel `username` into `dest` (created); the files of `leave_out` ids are left out."""
    spec = ChannelSpec.parse(username)
    if spec is None or spec.private:
        raise ValueError(f"no generated channel is called {username!r}")
    dest.mkdir(parents=True, exist_ok=True)
    writer = _Writer(spec, dest, set(leave_out))
    head = {"name": spec.title, "type": "public_channel", "id": spec.channel_id}
    with (dest / "result.json").open("w", encoding="utf-8") as out:
        out.write(json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "messages": [')
        for index, message in enumerate(writer.messages()):
            out.write(("," if index else "") + "\n  " + json.dumps(message, ensure_ascii=False))
        out.write("\n ]\n}\n")
    return dest


class _Writer:
    def __init__(self, spec: ChannelSpec, dest: Path, leave_out: set[int]) -> None:
        self.spec = spec
        self.dest = dest
        self.leave_out = leave_out
        self.taken: set[str] = set()
        self.sender = {"from": spec.title, "from_id": f"channel{spec.channel_id}"}

    def messages(self) -> Iterator[dict]:
        for gen in generate(self.spec):
            yield self.message(gen)

    def message(self, gen: GenMessage) -> dict:
        if gen.other == "dice":
            return {"id": gen.id, "type": "unsupported"}
        stamp = datetime.fromtimestamp(gen.date, UTC)
        out: dict = {"id": gen.id, "type": "service" if gen.service else "message"}
        out |= {"date": stamp.strftime("%Y-%m-%dT%H:%M:%S"), "date_unixtime": str(gen.date)}
        if gen.service:
            out |= {"actor": self.sender["from"], "actor_id": self.sender["from_id"], "action": _ACTIONS[gen.service]}
            if gen.service == "pin_message":
                out["message_id"] = gen.detail["pinned_id"]
            else:
                out["title"] = gen.detail["title"]
        else:
            out |= self.sender
            if gen.media is not None:
                out |= self.media(gen, gen.media, stamp)
            out |= _other(gen)
        text = text_parts(gen.text, gen.entities)
        plain_only = all(part["type"] == "plain" for part in text)
        out["text"] = gen.text if plain_only else [p["text"] if p["type"] == "plain" else p for p in text]
        out["text_entities"] = text
        return out

    def media(self, gen: GenMessage, media: GenMedia, stamp: datetime) -> dict:
        if media.kind == "photo":
            name = f"photo_{gen.id}@{stamp.strftime('%d-%m-%Y_%H-%M-%S')}.jpg"
            out = {"photo": self.file(gen, media, name), "photo_file_size": media.size}
            return out | {"width": media.width, "height": media.height}
        name = media.file_name or f"file_{gen.id}@{stamp.strftime('%d-%m-%Y_%H-%M-%S')}.{_extension(media)}"
        out = {"file": self.file(gen, media, name), "file_name": media.file_name, "file_size": media.size}
        if media.kind in _MEDIA_TYPES:
            out["media_type"] = _MEDIA_TYPES[media.kind]
        if media.kind == "sticker":
            out["sticker_emoji"] = "😀"
        else:
            out["mime_type"] = media.mime_type
        if media.kind == "audio":
            out |= {"performer": media.performer, "title": media.title}
        if media.duration:
            out["duration_seconds"] = media.duration
        if media.width and media.height:
            out |= {"width": media.width, "height": media.height}
        return {key: value for key, value in out.items() if value is not None}

    def file(self, gen: GenMessage, media: GenMedia, name: str) -> str:
        if gen.id in self.leave_out:
            return NOT_INCLUDED
        folder = _FOLDERS[media.kind]
        relative, n = f"{folder}/{name}", 0
        while relative in self.taken:  # Desktop keeps every file: a second `sticker.webp` is `sticker (1).webp`
            n += 1
            stem, dot, suffix = name.rpartition(".")
            relative = f"{folder}/{stem} ({n}){dot}{suffix}"
        self.taken.add(relative)
        path = self.dest / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(media_bytes(self.spec, gen.id, media))
        return relative


def _extension(media: GenMedia) -> str:
    return {"audio/ogg": "ogg", "video/mp4": "mp4", "image/webp": "webp"}.get(media.mime_type, "bin")


def _other(gen: GenMessage) -> dict:
    detail = gen.detail
    if gen.other == "poll":
        answers = [{"text": text, "voters": 0, "chosen": False} for text in detail["answers"]]
        return {"poll": {"question": detail["question"], "closed": False, "total_voters": 0, "answers": answers}}
    if gen.other in ("location", "venue"):
        point = {"location_information": {"latitude": detail["lat"], "longitude": detail["long"]}}
        if gen.other == "venue":
            return {"place_name": detail["title"], "address": detail["address"]} | point
        return point
    if gen.other == "contact":
        info = {"first_name": detail["first_name"], "last_name": detail["last_name"], "phone_number": detail["phone"]}
        return {"contact_information": info}
    return {}


def text_parts(text: str, entities: tuple[GenEntity, ...]) -> list[dict]:
    """Desktop's `text_entities`: the text cut at entity boundaries, every piece typed (`plain` between)."""
    units = text.encode("utf-16-le")
    parts, at = [], 0
    for entity in sorted(entities, key=lambda e: e.offset):
        if entity.offset > at:
            parts.append({"type": "plain", "text": _slice(units, at, entity.offset)})
        part = {"type": _PART_TYPES.get(entity.type, entity.type), "text": _slice(units, entity.offset, entity.end)}
        if entity.type == "text_link":
            part["href"] = entity.url
        elif entity.type == "pre":
            part["language"] = entity.language or ""
        elif entity.type == "custom_emoji":
            part["document_id"] = str(entity.custom_emoji_id)
        parts.append(part)
        at = entity.end
    if at < len(units) // 2:
        parts.append({"type": "plain", "text": _slice(units, at, len(units) // 2)})
    return parts


def _slice(units: bytes, start: int, end: int) -> str:
    return units[2 * start : 2 * end].decode("utf-16-le")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a Telegram Desktop export of a generated channel")
    parser.add_argument("channel", help="a generated channel's username, e.g. gen_1000 or bench_10000_s3")
    parser.add_argument("dest", type=Path, help="the export directory to write (created)")
    parser.add_argument("--leave-out", default="", help="comma-separated message ids whose files are left out")
    args = parser.parse_args(argv)
    leave_out = {int(i) for i in args.leave_out.split(",") if i.strip()}
    print(write_export(args.channel, args.dest, leave_out=leave_out) / "result.json")


if __name__ == "__main__":
    main()
