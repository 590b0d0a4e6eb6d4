"""A channel post as both Telegram sources give it (pyrogram, a Telegram Desktop export) and the MAX
publisher takes it: the one shape the migration works on, whichever way the history was read.

Texts and entities are Telegram's: entity offsets and lengths count UTF-16 code units, as Telegram
counts them. An album (several Telegram messages sharing a `media_group_id`) is one `Post` whose
`member_ids` are all of its messages, because MAX shows it as one message with several attachments.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field


class EntityType(StrEnum):
    bold = "bold"
    italic = "italic"
    underline = "underline"
    strikethrough = "strikethrough"
    spoiler = "spoiler"
    code = "code"
    pre = "pre"
    blockquote = "blockquote"
    text_link = "text_link"  # a word linked to `url`
    url = "url"  # a bare URL in the text
    email = "email"
    phone_number = "phone_number"
    mention = "mention"  # @username
    text_mention = "text_mention"  # a user named without a username
    hashtag = "hashtag"
    cashtag = "cashtag"
    bot_command = "bot_command"
    custom_emoji = "custom_emoji"


class Entity(BaseModel):
    type: EntityType
    offset: int = Field(ge=0)  # UTF-16 code units
    length: int = Field(ge=0)  # UTF-16 code units
    url: str | None = None  # text_link only; an http(s) URL or dropped (domain/urls.py)
    language: str | None = None  # pre only


class MediaKind(StrEnum):
    """What MAX can take, named by its upload type (`POST /uploads?type=`)."""

    image = "image"
    video = "video"
    audio = "audio"
    file = "file"


class Media(BaseModel):
    kind: MediaKind
    # How the source fetches the file again: a pyrogram file id, or a path relative to the export directory.
    ref: str
    file_name: str | None = None
    mime_type: str | None = None
    size: int | None = None  # bytes, when the source knows


class PostKind(StrEnum):
    content = "content"  # text and/or media MAX can show: published
    service = "service"  # a pin, a title change, a join...: skipped and counted, nothing to publish
    unsupported = "unsupported"  # a poll, a game, a location...: logged `skipped` with `skip_reason`


class Post(BaseModel):
    id: int  # the Telegram message id; for an album, its first (lowest) message id
    date: datetime  # timezone-aware UTC
    kind: PostKind = PostKind.content
    text: str = ""
    entities: list[Entity] = Field(default_factory=list)
    media: list[Media] = Field(default_factory=list)
    album_id: str | None = None
    # Every Telegram message this post stands for, ascending: [id] for a single message.
    member_ids: list[int] = Field(default_factory=list)
    skip_reason: str | None = None

    def model_post_init(self, _: object) -> None:
        if not self.member_ids:
            self.member_ids = [self.id]


class Page(BaseModel):
    """Up to `limit` Telegram messages newer than a cursor, as posts, oldest first."""

    posts: list[Post]
    # The cursor for the next page: the highest message id this page covers. An album cut by the page's
    # end is left whole for the next page, so the cursor stops before its first message.
    after_id: int
    done: bool  # nothing newer than `after_id` in the channel


class SourceError(Exception):
    """A source that cannot be read. `permanent`: retrying will not help (no such chat, a broken export).

    `retry_after`: the source asked to wait this many seconds (Telegram's FloodWait), exactly.
    """

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class PostSource(Protocol):
    """A Telegram channel's history, whichever way it is read (clients/telegram.py, clients/telegram_export.py)."""

    async def count(self) -> int:
        """How many messages the channel holds (service messages included): the job's total."""
        ...

    async def page(self, after_id: int, limit: int = 100) -> Page:
        """Messages with id > `after_id`, oldest first, at most `limit` of them, grouped into posts."""
        ...

    async def posts(self, ids: list[int]) -> list[Post]:
        """The posts holding these message ids (albums whole), oldest first; ids that no longer exist are left out."""
        ...

    async def download(self, media: Media, dest_dir: Path) -> Path:
        """Fetch one media file into `dest_dir` and return its path; the caller deletes it."""
        ...

    async def close(self) -> None: ...
