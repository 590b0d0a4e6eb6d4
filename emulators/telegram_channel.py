"""Deterministic Telegram channels: the content the Telegram stand-in serves and the export generator writes.

A channel is named by its username, and the name says what it holds:

- ``gen_<count>[_s<seed>][_m<bytes>]``: ``count`` messages in a realistic mix (text with entities, photos,
  albums of 2-10, videos, documents, audio, voice, stickers, service messages, polls, locations, venues,
  contacts, dice) with gaps in the ids, as a channel that has deleted posts has;
- ``bench_<count>[_s<seed>][_m<bytes>]``: the benchmark's mix of posts, 70% text, 20% single photos, 10% photo
  albums;
- ``text_<count>[_s<seed>]``: text posts only (with entities), for measuring the migration's own pace;
- ``private_<anything>``: a channel that resolves but whose history the user may not read.

``seed`` (default 0) picks another channel of the same size; ``bytes`` (default 2048) is the size of every
media file. Everything is derived from the name with a seeded ``random.Random`` and ``hashlib.shake_256``, so
every process that generates a channel gets the same messages and the same file bytes.

Texts mix Cyrillic, Latin and emoji outside the Basic Multilingual Plane, so entity offsets (UTF-16 code units,
as Telegram counts them) differ from Python string indices. Entities never overlap: a Telegram Desktop export
writes text as a flat list of parts and could not carry overlapping ones, and the same channel must read the same
from both sources.
"""

from __future__ import annotations

import hashlib
import random
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

MAX_MESSAGES = 200_000
MAX_MEDIA_BYTES = 20 * 1024 * 1024
DEFAULT_MEDIA_BYTES = 2048
FIRST_DATE = int(datetime(2024, 3, 1, 9, 0, tzinfo=UTC).timestamp())
INT32_MAX = 2**31 - 1
MIN_GAP, MAX_GAP = 60, 7200  # seconds between two posts


def widest_gap(count: int) -> int:
    """Posts are minutes to hours apart, so no two posts share a second (an album's members do); a very long
    channel's posts come closer, so that even at the widest gap its last date fits Telegram's 32-bit field."""
    return max(MIN_GAP, min(MAX_GAP, (INT32_MAX - FIRST_DATE) // (count + 1)))


_NAME = re.compile(r"^(gen|bench|text)_(\d+)(?:_s(\d+))?(?:_m(\d+))?$")

Mix = Literal["gen", "bench", "text"]


@dataclass(frozen=True)
class ChannelSpec:
    """What a channel name stands for."""

    username: str
    mix: Mix = "gen"
    count: int = 0
    seed: int = 0
    media_bytes: int = DEFAULT_MEDIA_BYTES
    private: bool = False

    @classmethod
    def parse(cls, username: str) -> ChannelSpec | None:
        """The channel a username names, or None when no such channel exists."""
        name = username.strip().lstrip("@").lower()
        if name.startswith("private_") and len(name) > len("private_"):
            return cls(username=name, private=True)
        match = _NAME.match(name)
        if match is None:
            return None
        mix, count, seed, media = match.groups()
        count, media_bytes = int(count), int(media) if media else DEFAULT_MEDIA_BYTES
        if not 1 <= count <= MAX_MESSAGES or not 16 <= media_bytes <= MAX_MEDIA_BYTES:
            return None
        return cls(username=name, mix=mix, count=count, seed=int(seed or 0), media_bytes=media_bytes)

    @property
    def key(self) -> int:
        """32 bits that identify the channel inside file ids."""
        return zlib.crc32(self.username.encode())

    @property
    def channel_id(self) -> int:
        return 1_000_000_000 + self.key % 900_000_000

    @property
    def access_hash(self) -> int:
        return int.from_bytes(hashlib.sha256(f"access:{self.username}".encode()).digest()[:7], "big")

    @property
    def title(self) -> str:
        return f"Longrun {self.username} 📣"


@dataclass(frozen=True)
class GenEntity:
    type: str  # the contract's EntityType values
    offset: int  # UTF-16 code units
    length: int  # UTF-16 code units
    url: str | None = None
    language: str | None = None
    custom_emoji_id: int | None = None

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True)
class GenMedia:
    # photo | video | animation | video_note | audio | voice | document | sticker
    kind: str
    mime_type: str
    size: int
    file_name: str | None = None
    width: int = 0
    height: int = 0
    duration: int = 0
    title: str | None = None
    performer: str | None = None


@dataclass(frozen=True)
class GenMessage:
    id: int
    date: int  # unix seconds
    text: str = ""
    entities: tuple[GenEntity, ...] = ()
    media: GenMedia | None = None
    grouped_id: int | None = None
    # A service message's action: create_channel | pin_message | edit_title.
    service: str | None = None
    # Content no MAX message can carry: poll | location | venue | contact | dice.
    other: str | None = None
    detail: dict = field(default_factory=dict, compare=False, hash=False)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------- text

_WORDS = (
    "новости", "сегодня", "канал", "перенос", "обновление", "город", "погода", "встреча", "итоги", "недели",
    "подробности", "фото", "видео", "репортаж", "интервью", "release", "update", "launch", "notes", "Москва",
    "Київ", "café", "naïve", "данные", "миграция",
)  # fmt: skip
_EMOJI = ("🚀", "🔥", "😀", "🎉", "📈", "👨‍👩‍👧", "🇷🇺", "✅", "❤️", "🌍", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "👍🏽")
_CODE = ("pip install kurigram", "SELECT 1;", "make up", "git log --oneline")
_PRE = (("python", "print('привет 🌍')"), ("sql", "SELECT id FROM post WHERE id > 100;"), ("", "plain block"))
_TEXT_LINK_URLS = (
    "https://example.com/news/{n}",
    "http://example.org/статья/{n}",
    "https://example.net/a?b=1&c={n}",
    "javascript:alert(document.cookie)",  # never a link: sources drop it
    "tg://resolve?domain=durov",  # not a web URL either
)


def _phrase(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(low, high))]
    if rng.random() < 0.5:
        words.insert(rng.randrange(len(words) + 1), rng.choice(_EMOJI))
    return " ".join(words)


def _entity_segment(rng: random.Random, n: int) -> tuple[str, dict]:
    kind = rng.choice(
        ("bold", "bold", "italic", "italic", "underline", "strikethrough", "spoiler", "code", "pre", "text_link",
         "text_link", "url", "mention", "hashtag", "hashtag", "email", "blockquote", "custom_emoji")
    )  # fmt: skip
    if kind == "code":
        return rng.choice(_CODE), {"type": kind}
    if kind == "pre":
        language, body = rng.choice(_PRE)
        return body, {"type": kind, "language": language or None}
    if kind == "text_link":
        return _phrase(rng, 1, 3), {"type": kind, "url": rng.choice(_TEXT_LINK_URLS).format(n=n)}
    if kind == "url":
        return f"https://example.com/пост/{n}", {"type": kind}
    if kind == "mention":
        return rng.choice(("@longrun_news", "@durov", "@telegram")), {"type": kind}
    if kind == "hashtag":
        return rng.choice(("#новости", "#release", "#итоги_недели")), {"type": kind}
    if kind == "email":
        return "editor@example.com", {"type": kind}
    if kind == "custom_emoji":
        return rng.choice(_EMOJI), {"type": kind, "custom_emoji_id": 5_000_000_000_000_000_000 + n}
    return _phrase(rng, 1, 4), {"type": kind}


def _text(rng: random.Random, n: int, *, sentences: tuple[int, int], entity_rate: float) -> tuple[str, tuple]:
    """Plain phrases and entity segments joined by spaces and newlines, with the entities' UTF-16 spans."""
    text, entities = "", []
    for index in range(rng.randint(*sentences)):
        if index:
            text += rng.choice((" ", " ", "\n", "\n\n"))
        text += _phrase(rng, 2, 6).capitalize()
        while rng.random() < entity_rate:
            segment, spec = _entity_segment(rng, n)
            text += " "
            entities.append(GenEntity(offset=utf16_len(text), length=utf16_len(segment), **spec))
            text += segment
        text += rng.choice((".", "!", "", " " + rng.choice(_EMOJI)))
    return text, tuple(entities)


# --------------------------------------------------------------------------- media

_MAGIC = {
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "image/webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    "video/mp4": b"\x00\x00\x00\x18ftypmp42",
    "audio/mpeg": b"ID3\x04\x00\x00\x00\x00\x00\x00",
    "audio/ogg": b"OggS\x00\x02",
    "application/pdf": b"%PDF-1.7\n",
}


def media_bytes(spec: ChannelSpec, message_id: int, media: GenMedia) -> bytes:
    """The file of one message: its type's magic number, then deterministic noise up to `media.size` bytes."""
    magic = _MAGIC.get(media.mime_type, b"")[: media.size]
    noise = hashlib.shake_256(f"{spec.username}:{message_id}".encode()).digest(media.size - len(magic))
    return magic + noise


def _media(rng: random.Random, kind: str, n: int, size: int) -> GenMedia:
    if kind == "photo":
        return GenMedia("photo", "image/jpeg", size, width=1280, height=rng.choice((720, 960, 1280)))
    if kind == "video":
        seconds = rng.randint(3, 90)
        return GenMedia("video", "video/mp4", size, f"clip_{n}.mp4", 1280, 720, seconds)
    if kind == "animation":
        return GenMedia("animation", "video/mp4", size, f"loop_{n}.mp4", 480, 270, rng.randint(1, 8))
    if kind == "video_note":
        return GenMedia("video_note", "video/mp4", size, None, 384, 384, rng.randint(3, 60))
    if kind == "audio":
        return GenMedia(
            "audio", "audio/mpeg", size, f"track_{n}.mp3", duration=rng.randint(60, 300),
            title=f"Трек {n}", performer="Longrun Band",
        )  # fmt: skip
    if kind == "voice":
        return GenMedia("voice", "audio/ogg", size, None, duration=rng.randint(2, 40))
    if kind == "sticker":
        return GenMedia("sticker", "image/webp", size, "sticker.webp", 512, 512)
    return GenMedia("document", "application/pdf", size, f"report_{n}.pdf")


# --------------------------------------------------------------------------- the channel

_GEN_WEIGHTS = {
    "text": 34, "photo": 18, "album": 9, "video": 6, "animation": 2, "video_note": 1, "document": 5, "audio": 2,
    "voice": 2, "sticker": 1, "service": 4, "poll": 3, "location": 1, "venue": 1, "contact": 1, "dice": 1,
}  # fmt: skip
_BENCH_WEIGHTS = {"text": 70, "photo": 20, "album": 10}
_CAPTIONED = 0.6


class _Builder:
    def __init__(self, spec: ChannelSpec) -> None:
        self.spec = spec
        self.rng = random.Random(f"{spec.mix}:{spec.count}:{spec.seed}")
        self.messages: list[GenMessage] = []
        self.next_id = 1
        self.date = FIRST_DATE

    def skip_deleted(self) -> None:
        # A channel that deleted posts has holes in its ids (between posts: an album's ids stay consecutive).
        if self.messages and self.rng.random() < 0.06:
            self.next_id += self.rng.randint(1, 5)

    def add(self, **fields) -> None:
        self.messages.append(GenMessage(id=self.next_id, date=self.date, **fields))
        self.next_id += 1

    def caption(self, n: int) -> tuple[str, tuple]:
        if self.rng.random() >= _CAPTIONED:
            return "", ()
        return _text(self.rng, n, sentences=(1, 2), entity_rate=0.4)

    def build(self) -> list[GenMessage]:
        spec, rng = self.spec, self.rng
        weights = {"bench": _BENCH_WEIGHTS, "text": {"text": 1.0}}.get(spec.mix, _GEN_WEIGHTS)
        kinds, cumulative = list(weights), list(weights.values())
        if spec.mix == "gen":
            self.add(service="create_channel", detail={"title": spec.title})
        widest = widest_gap(spec.count)
        while len(self.messages) < spec.count:
            self.date += rng.randint(MIN_GAP, widest)
            self.skip_deleted()
            kind = rng.choices(kinds, cumulative)[0]
            self.post(kind, spec.count - len(self.messages))
        return self.messages

    def post(self, kind: str, room: int) -> None:
        rng, n, size = self.rng, self.next_id, self.spec.media_bytes
        if kind == "text":
            text, entities = _text(rng, n, sentences=(1, 4), entity_rate=0.45)
            self.add(text=text, entities=entities)
        elif kind == "album" and room >= 2:
            self.album(min(rng.randint(2, 10), room))
        elif kind in ("photo", "album", "video", "animation", "video_note", "document", "audio", "voice", "sticker"):
            media_kind = "photo" if kind == "album" else kind
            text, entities = ("", ()) if kind in ("video_note", "sticker") else self.caption(n)
            self.add(text=text, entities=entities, media=_media(rng, media_kind, n, size))
        elif kind == "service":
            earlier = [m.id for m in self.messages if m.service is None]
            if earlier and rng.random() < 0.6:
                self.add(service="pin_message", detail={"pinned_id": rng.choice(earlier[-20:])})
            else:
                self.add(service="edit_title", detail={"title": f"{self.spec.title} #{n}"})
        else:
            self.add(other=kind, detail=_other_detail(rng, kind, n))

    def album(self, members: int) -> None:
        rng, n, size = self.rng, self.next_id, self.spec.media_bytes
        grouped_id = 13_000_000_000_000_000 + self.spec.key * 1_000_000 + n
        documents = rng.random() < 0.12
        captioned = rng.choices((0, rng.randrange(members), None), (7, 1, 2))[0]
        for index in range(members):
            kind = "document" if documents else rng.choice(("photo", "photo", "photo", "video"))
            if self.spec.mix == "bench":
                kind = "photo"  # the benchmark's albums are photo albums
            text, entities = ("", ())
            if index == captioned:
                text, entities = _text(rng, n, sentences=(1, 2), entity_rate=0.4)
            self.add(text=text, entities=entities, media=_media(rng, kind, n + index, size), grouped_id=grouped_id)


def _other_detail(rng: random.Random, kind: str, n: int) -> dict:
    if kind == "poll":
        answers = rng.sample(("Да", "Нет", "Не знаю 🤷", "Позже"), rng.randint(2, 4))
        return {"question": f"Опрос #{n}: переезжаем в MAX?", "answers": answers}
    if kind in ("location", "venue"):
        detail = {"lat": round(55.75 + rng.uniform(-0.1, 0.1), 6), "long": round(37.61 + rng.uniform(-0.1, 0.1), 6)}
        if kind == "venue":
            detail |= {"title": f"Кафе «Лонгран» #{n}", "address": "ул. Тверская, 1"}
        return detail
    if kind == "contact":
        return {"phone": "+79990000000", "first_name": "Иван", "last_name": f"Петров {n}"}
    return {"emoticon": "🎲", "value": rng.randint(1, 6)}


@dataclass(frozen=True)
class ChannelIndex:
    """A generated channel arranged for lookups: ids and dates ascending (for bisect), messages by id."""

    messages: tuple[GenMessage, ...]
    ids: tuple[int, ...]
    dates: tuple[int, ...]
    by_id: dict[int, GenMessage] = field(hash=False, compare=False)


@lru_cache(maxsize=8)
def index(spec: ChannelSpec) -> ChannelIndex:
    messages = generate(spec)
    ids = tuple(m.id for m in messages)
    return ChannelIndex(messages, ids, tuple(m.date for m in messages), dict(zip(ids, messages, strict=True)))


@lru_cache(maxsize=8)
def generate(spec: ChannelSpec) -> tuple[GenMessage, ...]:
    """Every message of the channel, ascending by id (empty for a private channel: nobody may read it)."""
    if spec.private:
        return ()
    return tuple(_Builder(spec).build())


def channel_digest(spec: ChannelSpec) -> str:
    """A fingerprint of the whole channel, messages and files, to check two processes generated the same one."""
    digest = hashlib.sha256()
    for m in generate(spec):
        digest.update(repr((m.id, m.date, m.text, m.entities, m.media, m.grouped_id, m.service, m.other)).encode())
        if m.media is not None:
            digest.update(media_bytes(spec, m.id, m.media))
    return digest.hexdigest()
