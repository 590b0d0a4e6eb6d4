"""One message of a Telegram Desktop JSON export ("Export chat history") as a one-message `Post`.

The same mapping as for pyrogram's messages (`clients/telegram_messages.py`), read from what Desktop writes:

- `text` / `text_entities`: a string, or a list of strings and `{"type", "text", "href"?, "language"?}` parts; the
  parts are laid end to end and each typed part becomes an entity at its UTF-16 offset (`link` → url, `phone` →
  phone_number, `mention_name` → text_mention; `plain`, `bank_card`, `unknown` are text only);
- `photo` → image; `file` with `media_type` video_file, animation, video_message → video; audio_file,
  voice_message → audio; sticker → image when WebP, else unsupported ("sticker"); no media_type → file;
- a path Desktop replaced by "(File not included. ...)" (or "exceeds maximum size", "unavailable") makes the
  post unsupported, `skip_reason` saying so: publishing the text without its file would lose part of the post;
- `type: "service"` → service, its `action` named as pyrogram names it where they mean the same;
  `type: "unsupported"` (media Desktop could not export, such as dice) and polls, contacts, locations, venues,
  games, invoices → unsupported.

Media refs are the paths Desktop wrote, relative to the export directory; `media_paths` lists them so the
loader can refuse any that would leave the directory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from domain.posts import Entity, EntityType, Media, MediaKind, Post, PostKind
from domain.urls import web_url

_PART_TYPES = {
    "link": EntityType.url,
    "phone": EntityType.phone_number,
    "mention_name": EntityType.text_mention,
} | {kind.value: kind for kind in EntityType if kind not in (EntityType.url, EntityType.phone_number)}
_TEXT_ONLY_PARTS = {"plain", "bank_card", "unknown"}
# Desktop's action names where pyrogram has a name for the same thing, so both sources say the same.
_ACTIONS = {
    "create_channel": "channel_chat_created",
    "create_group": "group_chat_created",
    "migrate_from_group": "migrate_from_chat_id",
    "migrate_to_supergroup": "migrate_to_chat_id",
    "pin_message": "pinned_message",
    "edit_group_title": "new_chat_title",
    "edit_group_photo": "new_chat_photo",
    "delete_group_photo": "delete_chat_photo",
    "invite_members": "new_chat_members",
    "remove_members": "left_chat_member",
    "clear_history": "history_cleared",
}
# The keys of content MAX cannot carry, with the skip reason pyrogram gives the same content. Order matters: a
# venue also has location_information.
_UNSUPPORTED = (
    ("poll", "poll"),
    ("contact_information", "contact"),
    ("place_name", "venue"),
    ("location_information", "location"),
    ("game_title", "game"),
    ("invoice_information", "invoice"),
    ("dice", "dice"),
    ("giveaway_information", "giveaway"),
    ("todo_list", "checklist"),
)
_VIDEO_TYPES = {"video_file", "animation", "video_message"}
_AUDIO_TYPES = {"audio_file", "voice_message"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def not_included(path: object) -> bool:
    """Desktop's placeholder for a file it did not write: "(File not included. ...)", "(Photo ...)"."""
    return isinstance(path, str) and path.startswith("(") and path.endswith(")")


def media_paths(message: dict[str, Any]) -> list[str]:
    """The relative paths of the files this message refers to (placeholders left out)."""
    return [
        value
        for key in ("photo", "file")
        if isinstance(value := message.get(key), str) and value and not not_included(value)
    ]


class UnreadableDate(ValueError):
    """The message carries a date no clock could have written (beyond year 9999, or not a time at all)."""


def export_date(message: dict[str, Any]) -> datetime | None:
    """When the message was sent, in UTC; None when Desktop wrote no date.

    `date_unixtime` is exact; older exports have only `date`, written in the exporting machine's local time with
    no offset, which is taken as UTC. A date that is written but cannot be one raises UnreadableDate: the file is
    outside content, and `datetime` refuses such values with ValueError, OverflowError or OSError by platform.
    """
    unixtime = message.get("date_unixtime")
    if isinstance(unixtime, str | int) and not isinstance(unixtime, bool) and str(unixtime).isdigit():
        try:
            return datetime.fromtimestamp(int(unixtime), UTC)
        except (ValueError, OverflowError, OSError) as exc:
            raise UnreadableDate(f"date_unixtime {str(unixtime)[:40]!r} is not a date ({exc})") from exc
    date = message.get("date")
    if isinstance(date, str):
        try:
            parsed = datetime.fromisoformat(date)
        except ValueError:
            return None  # not ISO: an exporter's own format; the neighbour's date stands in, as for no date
        try:
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (ValueError, OverflowError) as exc:  # 9999-12-31T23:00-05:00 is past the last date Python has
            raise UnreadableDate(f"date {date[:40]!r} is not a date ({exc})") from exc
    return None


def export_post(message: dict[str, Any], *, album_id: str | None, fallback_date: datetime) -> Post:
    """`message` as a post; `fallback_date` for messages Desktop wrote without a date (unsupported media).

    A message whose date is unreadable is kept as an unsupported post saying so: the migration logs it as
    skipped and goes on with the rest (the channel check refuses such an export before it gets that far)."""
    try:
        date = export_date(message)
    except UnreadableDate as exc:
        return Post(id=message["id"], date=fallback_date, kind=PostKind.unsupported, skip_reason=f"unreadable {exc}")
    common = {"id": message["id"], "date": date or fallback_date}
    kind = message.get("type")
    if kind == "service":
        action = str(message.get("action") or "service")
        return Post(**common, kind=PostKind.service, skip_reason=_ACTIONS.get(action, action))
    if kind != "message":
        return Post(**common, kind=PostKind.unsupported, skip_reason="unsupported")
    text, entities = export_text(message)
    common |= {"text": text, "entities": entities, "album_id": album_id}
    skip_reason = next((reason for key, reason in _UNSUPPORTED if key in message), None)
    media, missing = _media(message)
    skip_reason = skip_reason or missing
    if skip_reason is None and not media and not text:
        skip_reason = "empty"
    if skip_reason is not None:
        return Post(**common, kind=PostKind.unsupported, skip_reason=skip_reason)
    return Post(**common, media=media)


def export_text(message: dict[str, Any]) -> tuple[str, list[Entity]]:
    """The message's text and its entities, offsets and lengths in UTF-16 code units."""
    parts = message.get("text_entities")
    if not isinstance(parts, list):
        parts = message.get("text", "")
        parts = [parts] if isinstance(parts, str) else parts if isinstance(parts, list) else []
    text, entities, at = [], [], 0
    for part in parts:
        piece = part if isinstance(part, str) else part.get("text") if isinstance(part, dict) else None
        if not isinstance(piece, str):
            continue
        length = len(piece.encode("utf-16-le")) // 2
        if isinstance(part, dict) and length:
            entity = _entity(part, at, length)
            if entity is not None:
                entities.append(entity)
        text.append(piece)
        at += length
    return "".join(text), entities


def _entity(part: dict[str, Any], offset: int, length: int) -> Entity | None:
    name = part.get("type")
    kind = _PART_TYPES.get(name) if isinstance(name, str) and name not in _TEXT_ONLY_PARTS else None
    if kind is None:
        return None
    url = web_url(part.get("href")) if kind == EntityType.text_link else None
    if kind == EntityType.text_link and url is None:
        return None  # the words stay, a link that is not a web URL goes
    language = (part.get("language") or None) if kind == EntityType.pre else None
    return Entity(type=kind, offset=offset, length=length, url=url, language=language)


def _media(message: dict[str, Any]) -> tuple[list[Media], str | None]:
    """The message's file as media and, when the export left it out, the skip reason."""
    key = "photo" if "photo" in message else "file" if "file" in message else None
    if key is None:
        return [], None
    path = message[key]
    if not isinstance(path, str) or not path or not_included(path):
        what = path.strip("()").split(".")[0] if isinstance(path, str) and path else "no file"
        return [], f"file not in the export: {what}"
    size = message.get("photo_file_size" if key == "photo" else "file_size")
    size = size if isinstance(size, int) and size >= 0 else None
    if key == "photo":
        return [Media(kind=MediaKind.image, ref=path, mime_type="image/jpeg", size=size)], None
    media_type = message.get("media_type")
    mime_type = message.get("mime_type") if isinstance(message.get("mime_type"), str) else None
    if media_type == "sticker":
        if PurePosixPath(path).suffix.lower() != ".webp":
            return [], "sticker"
        kind, mime_type = MediaKind.image, "image/webp"
    elif media_type in _VIDEO_TYPES:
        kind = MediaKind.video
    elif media_type in _AUDIO_TYPES:
        kind = MediaKind.audio
    else:
        kind = MediaKind.file
    name = message.get("file_name") if isinstance(message.get("file_name"), str) else None
    name = name or PurePosixPath(path).name
    return [Media(kind=kind, ref=path, file_name=name, mime_type=mime_type, size=size)], None
