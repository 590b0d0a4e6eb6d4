"""Generated channel messages as the raw MTProto objects Telegram sends (pyrogram's `raw.types`).

The stand-in answers with these, so pyrogram's own `Message._parse` turns them into messages exactly as it
does with Telegram's answers: media, entities, albums (`grouped_id`), service actions, polls and the rest.

A file is found again from its id alone: `media_id` is the channel's 32-bit key above the message id, the way a
real file id points at a file without naming the message.
"""

from __future__ import annotations

from pyrogram import raw

from emulators.telegram_channel import ChannelSpec, GenEntity, GenMedia, GenMessage

DC_ID = 2  # the data centre of the stand-in session: files live there too, so no other DC is ever dialled
_MESSAGE_ID_BITS = 24

_ENTITY_TYPES = {
    "bold": raw.types.MessageEntityBold,
    "italic": raw.types.MessageEntityItalic,
    "underline": raw.types.MessageEntityUnderline,
    "strikethrough": raw.types.MessageEntityStrike,
    "spoiler": raw.types.MessageEntitySpoiler,
    "code": raw.types.MessageEntityCode,
    "url": raw.types.MessageEntityUrl,
    "email": raw.types.MessageEntityEmail,
    "phone_number": raw.types.MessageEntityPhone,
    "mention": raw.types.MessageEntityMention,
    "hashtag": raw.types.MessageEntityHashtag,
    "cashtag": raw.types.MessageEntityCashtag,
    "bot_command": raw.types.MessageEntityBotCommand,
    "blockquote": raw.types.MessageEntityBlockquote,
}


def media_id(spec: ChannelSpec, message_id: int) -> int:
    return (spec.key << _MESSAGE_ID_BITS) | message_id


def split_media_id(value: int) -> tuple[int, int]:
    """(channel key, message id) of a file id's `media_id`."""
    return value >> _MESSAGE_ID_BITS, value & ((1 << _MESSAGE_ID_BITS) - 1)


def file_reference(message_id: int) -> bytes:
    return f"ref:{message_id}".encode()


def channel(spec: ChannelSpec) -> raw.types.Channel:
    return raw.types.Channel(
        id=spec.channel_id,
        title=spec.title,
        photo=raw.types.ChatPhotoEmpty(),
        date=1_700_000_000,
        broadcast=True,
        access_hash=spec.access_hash,
        username=spec.username,
    )


def message(spec: ChannelSpec, gen: GenMessage) -> raw.base.Message:
    peer = raw.types.PeerChannel(channel_id=spec.channel_id)
    if gen.service is not None:
        reply_to = None
        if gen.service == "pin_message":
            reply_to = raw.types.MessageReplyHeader(reply_to_msg_id=gen.detail["pinned_id"])
        return raw.types.MessageService(
            id=gen.id, peer_id=peer, date=gen.date, action=_action(gen), post=True, reply_to=reply_to
        )
    return raw.types.Message(
        id=gen.id,
        peer_id=peer,
        date=gen.date,
        message=gen.text,
        post=True,
        entities=[_entity(entity) for entity in gen.entities] or None,
        media=_media(spec, gen),
        grouped_id=gen.grouped_id,
        # views and forwards share one flag bit in the TL schema: one without the other would not parse.
        views=gen.id * 7 % 5000,
        forwards=gen.id % 13,
    )


def _action(gen: GenMessage) -> raw.base.MessageAction:
    if gen.service == "create_channel":
        return raw.types.MessageActionChannelCreate(title=gen.detail["title"])
    if gen.service == "pin_message":
        return raw.types.MessageActionPinMessage()
    return raw.types.MessageActionChatEditTitle(title=gen.detail["title"])


def _entity(entity: GenEntity) -> raw.base.MessageEntity:
    span = {"offset": entity.offset, "length": entity.length}
    if entity.type == "text_link":
        return raw.types.MessageEntityTextUrl(**span, url=entity.url or "")
    if entity.type == "pre":
        return raw.types.MessageEntityPre(**span, language=entity.language or "")
    if entity.type == "custom_emoji":
        return raw.types.MessageEntityCustomEmoji(**span, document_id=entity.custom_emoji_id or 0)
    return _ENTITY_TYPES[entity.type](**span)


def _media(spec: ChannelSpec, gen: GenMessage) -> raw.base.MessageMedia | None:
    if gen.media is not None:
        return _file_media(spec, gen, gen.media)
    detail = gen.detail
    if gen.other == "poll":
        answers = [
            raw.types.PollAnswer(text=raw.types.TextWithEntities(text=text, entities=[]), option=str(i).encode())
            for i, text in enumerate(detail["answers"])
        ]
        question = raw.types.TextWithEntities(text=detail["question"], entities=[])
        poll = raw.types.Poll(id=media_id(spec, gen.id), question=question, answers=answers, hash=0)
        return raw.types.MessageMediaPoll(poll=poll, results=raw.types.PollResults(total_voters=0))
    if gen.other in ("location", "venue"):
        geo = raw.types.GeoPoint(long=detail["long"], lat=detail["lat"], access_hash=0)
        if gen.other == "location":
            return raw.types.MessageMediaGeo(geo=geo)
        return raw.types.MessageMediaVenue(
            geo=geo, title=detail["title"], address=detail["address"], provider="", venue_id="", venue_type=""
        )
    if gen.other == "contact":
        return raw.types.MessageMediaContact(
            phone_number=detail["phone"], first_name=detail["first_name"], last_name=detail["last_name"], vcard="",
            user_id=0,
        )  # fmt: skip
    if gen.other == "dice":
        return raw.types.MessageMediaDice(value=detail["value"], emoticon=detail["emoticon"])
    return None


def _file_media(spec: ChannelSpec, gen: GenMessage, media: GenMedia) -> raw.base.MessageMedia:
    ids = {
        "id": media_id(spec, gen.id),
        "access_hash": spec.access_hash,
        "file_reference": file_reference(gen.id),
        "date": gen.date,
        "dc_id": DC_ID,
    }
    if media.kind == "photo":
        sizes = [
            raw.types.PhotoSize(type="m", w=320, h=media.height * 320 // media.width, size=max(16, media.size // 8)),
            raw.types.PhotoSize(type="y", w=media.width, h=media.height, size=media.size),
        ]
        return raw.types.MessageMediaPhoto(photo=raw.types.Photo(**ids, sizes=sizes))
    document = raw.types.Document(**ids, mime_type=media.mime_type, size=media.size, attributes=_attributes(media))
    return raw.types.MessageMediaDocument(
        document=document,
        video=media.kind == "video" or None,
        round=media.kind == "video_note" or None,
        voice=media.kind == "voice" or None,
    )


def _attributes(media: GenMedia) -> list[raw.base.DocumentAttribute]:
    attributes: list[raw.base.DocumentAttribute] = []
    if media.kind in ("video", "animation", "video_note"):
        attributes.append(
            raw.types.DocumentAttributeVideo(
                duration=media.duration, w=media.width, h=media.height, round_message=media.kind == "video_note" or None
            )
        )
    if media.kind == "animation":
        attributes.append(raw.types.DocumentAttributeAnimated())
    if media.kind in ("audio", "voice"):
        attributes.append(
            raw.types.DocumentAttributeAudio(
                duration=media.duration, voice=media.kind == "voice" or None, title=media.title,
                performer=media.performer,
            )
        )  # fmt: skip
    if media.kind == "sticker":
        attributes.append(raw.types.DocumentAttributeSticker(alt="😀", stickerset=raw.types.InputStickerSetEmpty()))
        attributes.append(raw.types.DocumentAttributeImageSize(w=media.width, h=media.height))
    if media.file_name:
        attributes.append(raw.types.DocumentAttributeFilename(file_name=media.file_name))
    return attributes
