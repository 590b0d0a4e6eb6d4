"""What a generated channel must read as, computed from the generator alone, for the source tests to compare with."""

from itertools import groupby

from domain.posts import EntityType, MediaKind, Post, PostKind
from domain.urls import web_url
from emulators.telegram_channel import ChannelSpec, GenMessage, generate

MEDIA_KINDS = {
    "photo": MediaKind.image,
    "sticker": MediaKind.image,  # a static (WebP) sticker
    "video": MediaKind.video,
    "animation": MediaKind.video,
    "video_note": MediaKind.video,
    "audio": MediaKind.audio,
    "voice": MediaKind.audio,
    "document": MediaKind.file,
}


def albums(spec: ChannelSpec) -> list[list[int]]:
    """The member ids of every post, in order: one id per message, all of an album's ids together."""
    posts: list[list[int]] = []
    for grouped_id, run in groupby(generate(spec), key=lambda m: m.grouped_id):
        ids = [m.id for m in run]
        posts.extend([ids] if grouped_id else [[i] for i in ids])
    return posts


def expected_entities(gen: GenMessage) -> list[tuple]:
    spans = []
    for entity in gen.entities:
        url = web_url(entity.url) if entity.type == "text_link" else None
        if entity.type == "text_link" and url is None:
            continue  # the words stay, the link goes
        language = entity.language or None if entity.type == "pre" else None
        spans.append((EntityType(entity.type), entity.offset, entity.length, url, language))
    return spans


def entity_spans(post: Post) -> list[tuple]:
    return [(e.type, e.offset, e.length, e.url, e.language) for e in post.entities]


def expected_kind(gen: GenMessage) -> tuple[PostKind, str | None]:
    if gen.service:
        return PostKind.service, None
    if gen.other:
        return PostKind.unsupported, gen.other
    return PostKind.content, None


def utf16_slice(text: str, offset: int, length: int) -> str:
    return text.encode("utf-16-le")[2 * offset : 2 * (offset + length)].decode("utf-16-le")
