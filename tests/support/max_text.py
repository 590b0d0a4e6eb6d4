"""Helpers for the MAX text tests: entities written by substring (offsets counted in UTF-16, as Telegram does),
and what a parsed MAX message shows, per style, to compare with what the Telegram entities asked for."""

from __future__ import annotations

import random

from domain.max_format import utf16_len, utf16_starts
from domain.posts import Entity, EntityType

URL = "https://example.com/page"


def ent(text: str, kind: str, part: str, nth: int = 0, **extra: object) -> Entity:
    """An entity of `kind` over the `nth` occurrence of `part` in `text`."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(part, at + 1)
    return Entity(type=EntityType(kind), offset=utf16_len(text[:at]), length=utf16_len(part), **extra)


# Telegram entity type → MAX markup type, for the styles MAX can show.
MARKUP_OF = {
    "bold": "strong",
    "italic": "emphasized",
    "underline": "underline",
    "strikethrough": "strikethrough",
    "code": "monospaced",
    "pre": "monospaced",
    "text_link": "link",
    "url": "link",
}


def expected_coverage(text: str, entities: list[Entity]) -> dict[str, set[int]]:
    """Per MAX markup type, the visible code points the Telegram entities style (backticks and line breaks never
    monospaced: a monospaced span cannot hold them)."""
    starts = utf16_starts(text)
    covered: dict[str, set[int]] = {t: set() for t in set(MARKUP_OF.values())}
    for entity in entities:
        kind = MARKUP_OF.get(entity.type.value)
        if kind is None or (entity.type is EntityType.text_link and not entity.url):
            continue
        for i, start in enumerate(starts[:-1]):
            end = starts[i + 1]
            inside = start < entity.offset + entity.length and end > entity.offset
            visible = not text[i].isspace() and not (kind == "monospaced" and text[i] == "`")
            if inside and visible:
                covered[kind].add(i)
    return covered


def shown_coverage(text: str, markup: list[dict]) -> dict[str, set[int]]:
    starts = utf16_starts(text)
    covered: dict[str, set[int]] = {t: set() for t in set(MARKUP_OF.values())}
    for item in markup:
        if item["type"] not in covered:
            continue
        for i, start in enumerate(starts[:-1]):
            if item["from"] <= start < item["from"] + item["length"] and not text[i].isspace():
                covered[item["type"]].add(i)
    return covered


_ALPHABET = list("abcdefgh жёлтый 12") + list("*_`[]()~+^#>!\\-.") + ["\n", "\n\n", "😀", "👍🏽", "🇷🇺", "é"]
_KINDS = ["bold", "italic", "underline", "strikethrough", "code", "pre", "text_link", "spoiler", "mention"]


def random_post_text(rng: random.Random, length: int, entity_count: int) -> tuple[str, list[Entity]]:
    """A text of awkward characters with entities at random UTF-16 offsets (some inside a surrogate pair).

    At most one text link: Telegram never overlaps two links, and the formatter keeps only the first if it did.
    """
    text = "".join(rng.choice(_ALPHABET) for _ in range(length))
    total = utf16_len(text)
    entities = []
    for _ in range(entity_count):
        offset = rng.randrange(total) if total else 0
        size = rng.randint(1, max(1, total - offset))
        kind = rng.choice(_KINDS)
        if kind == "text_link" and any(e.type is EntityType.text_link for e in entities):
            kind = "bold"
        url = f"{URL}?q={rng.randint(0, 9)}_(x)" if kind == "text_link" else None
        entities.append(Entity(type=EntityType(kind), offset=offset, length=size, url=url))
    return text, entities
