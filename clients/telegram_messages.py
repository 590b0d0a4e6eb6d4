"""pyrogram's parsed channel messages as one-message `Post`s (albums are merged afterwards, `domain/albums.py`).

What maps to what:

- text or caption, with Telegram's own entity offsets (UTF-16 code units); a `text_link` whose URL is not a web
  URL loses its link (the words stay), entities MAX has no use for (bank cards, dates) are dropped;
- photo → image; video, animation, video note → video; audio, voice → audio; document → file; a static sticker
  (WebP) → image, an animated (TGS) or video (WebM) sticker → unsupported ("sticker");
- a link preview is part of a text post, not media;
- service messages (a pin, a title change...) → `service`, with pyrogram's name for the action as `skip_reason`;
- polls, dice, games, locations, venues, contacts, giveaways, stories, invoices, paid media, checklists → unsupported,
  `skip_reason` being pyrogram's name for the media ("poll"...); so is a message with nothing in it.
"""

from __future__ import annotations

from datetime import UTC
from typing import Protocol

from pyrogram import enums, types

from domain.posts import Entity, EntityType, Media, MediaKind, Post, PostKind
from domain.urls import web_url

_ENTITY_TYPES = {
    enums.MessageEntityType.BOLD: EntityType.bold,
    enums.MessageEntityType.ITALIC: EntityType.italic,
    enums.MessageEntityType.UNDERLINE: EntityType.underline,
    enums.MessageEntityType.STRIKETHROUGH: EntityType.strikethrough,
    enums.MessageEntityType.SPOILER: EntityType.spoiler,
    enums.MessageEntityType.CODE: EntityType.code,
    enums.MessageEntityType.PRE: EntityType.pre,
    enums.MessageEntityType.BLOCKQUOTE: EntityType.blockquote,
    enums.MessageEntityType.TEXT_LINK: EntityType.text_link,
    enums.MessageEntityType.URL: EntityType.url,
    enums.MessageEntityType.EMAIL: EntityType.email,
    enums.MessageEntityType.PHONE_NUMBER: EntityType.phone_number,
    enums.MessageEntityType.MENTION: EntityType.mention,
    enums.MessageEntityType.TEXT_MENTION: EntityType.text_mention,
    enums.MessageEntityType.HASHTAG: EntityType.hashtag,
    enums.MessageEntityType.CASHTAG: EntityType.cashtag,
    enums.MessageEntityType.BOT_COMMAND: EntityType.bot_command,
    enums.MessageEntityType.CUSTOM_EMOJI: EntityType.custom_emoji,
}

_FILE_MEDIA = {
    enums.MessageMediaType.VIDEO: ("video", MediaKind.video),
    enums.MessageMediaType.ANIMATION: ("animation", MediaKind.video),
    enums.MessageMediaType.VIDEO_NOTE: ("video_note", MediaKind.video),
    enums.MessageMediaType.AUDIO: ("audio", MediaKind.audio),
    enums.MessageMediaType.VOICE: ("voice", MediaKind.audio),
    enums.MessageMediaType.DOCUMENT: ("document", MediaKind.file),
}


def message_post(message: types.Message) -> Post:
    """One message as a post of its own; `album_id` set when it is part of an album."""
    # pyrogram gives naive local time (datetime.fromtimestamp); the contract wants UTC.
    assert message.date is not None  # only an empty message has none, and those are left out before
    date = message.date.astimezone(UTC)
    if message.service is not None:
        return Post(id=message.id, date=date, kind=PostKind.service, skip_reason=message.service.value)  # pyright: ignore[reportArgumentType]  # pyrogram's enums hold str values (AutoName); auto() reads as int
    # pyrogram's text is a str subclass that slices in UTF-16 units; the contract holds plain strings.
    text = str.__str__(message.text or message.caption or "")
    entities = _entities(message.entities or message.caption_entities or [])
    album_id = str(message.media_group_id) if message.media_group_id else None
    common = {"id": message.id, "date": date, "text": text, "entities": entities, "album_id": album_id}
    media, skip_reason = _media(message)
    if skip_reason is None and not media and not text:
        skip_reason = "empty"
    if skip_reason is not None:
        return Post(**common, kind=PostKind.unsupported, skip_reason=skip_reason)
    return Post(**common, media=media)


def _entities(entities: list[types.MessageEntity]) -> list[Entity]:
    converted = []
    for entity in entities:
        kind = _ENTITY_TYPES.get(entity.type)
        if kind is None:
            continue
        url = web_url(entity.url) if kind == EntityType.text_link else None
        if kind == EntityType.text_link and url is None:
            continue  # a javascript:, tg: or broken link: the words stay, the link goes
        language = (entity.language or None) if kind == EntityType.pre else None
        converted.append(Entity(type=kind, offset=entity.offset, length=entity.length, url=url, language=language))
    return converted


def _media(message: types.Message) -> tuple[list[Media], str | None]:
    """The message's files and, when it holds something MAX cannot show, why it is skipped."""
    kind = message.media
    if kind is None or kind == enums.MessageMediaType.WEB_PAGE:
        return [], None
    if kind == enums.MessageMediaType.PHOTO:
        photo = message.photo
        assert photo is not None  # pyrogram sets the attribute its media type names
        return [Media(kind=MediaKind.image, ref=photo.file_id, mime_type="image/jpeg", size=photo.file_size)], None
    if kind == enums.MessageMediaType.STICKER:
        sticker = message.sticker
        assert sticker is not None  # pyrogram sets the attribute its media type names
        if sticker.is_animated or sticker.is_video:
            return [], "sticker"
        return [_file(sticker, MediaKind.image)], None
    if kind in _FILE_MEDIA:
        attribute, media_kind = _FILE_MEDIA[kind]
        return [_file(getattr(message, attribute), media_kind)], None
    return [], kind.value  # pyright: ignore[reportReturnType]  # pyrogram's enums hold str values (AutoName); auto() reads as int


class _File(Protocol):
    """What pyrogram's documents, stickers, videos, audio, voice notes and animations have in common."""

    @property
    def file_id(self) -> str: ...
    @property
    def mime_type(self) -> str | None: ...
    @property
    def file_size(self) -> int | None: ...


def _file(media: _File, kind: MediaKind) -> Media:
    return Media(
        kind=kind,
        ref=media.file_id,
        file_name=getattr(media, "file_name", None) or None,
        mime_type=media.mime_type or None,
        size=media.file_size,
    )
