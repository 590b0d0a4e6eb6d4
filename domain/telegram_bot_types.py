"""The Telegram Bot API objects Longrun reads (https://core.telegram.org/bots/api#available-types), only the fields
it uses. Fields Telegram adds later are kept (`extra="allow"`), so an update stored in the inbox is the update as
sent, and a type Telegram extends never makes a valid update a 422."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Telegram's ids have at most 52 significant bits (Bot API); the tracker keeps them in BIGINT columns. Bounded here,
# a number past 64 bits is the webhook's 422 naming the field, not the driver's refusal.
TelegramId = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
# Unix time up to the last second Python's datetime holds (year 9999).
UnixTime = Annotated[int, Field(ge=0, le=253_402_300_799)]


class BotObject(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class User(BotObject):
    id: TelegramId
    is_bot: bool = False
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


class Chat(BotObject):
    id: TelegramId
    type: str
    title: str | None = None
    username: str | None = None


class Message(BotObject):
    message_id: TelegramId
    # Empty for messages sent on behalf of a channel or chat (then `sender_chat` says which).
    from_: User | None = Field(default=None, alias="from")
    sender_chat: Chat | None = None
    chat: Chat
    # Unix time, as Telegram sends it.
    date: UnixTime
    text: str | None = None
    caption: str | None = None
    # Unix time of the message's last edit: only an edited message has it.
    edit_date: UnixTime | None = None

    @property
    def edited_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.edit_date, UTC) if self.edit_date is not None else None

    @property
    def sent_at(self) -> datetime:
        return datetime.fromtimestamp(self.date, UTC)

    @property
    def content(self) -> str:
        """What the tracker reads of a message: its text, or a media message's caption."""
        return self.text or self.caption or ""


class Update(BotObject):
    update_id: Annotated[int, Field(ge=0, le=2**63 - 1)]
    message: Message | None = None
    edited_message: Message | None = None
    channel_post: Message | None = None
    edited_channel_post: Message | None = None

    @property
    def tracked_message(self) -> Message | None:
        """The new message the tracker saves from this update; other kinds of update (edits, callbacks...) carry
        none."""
        return self.message or self.channel_post

    @property
    def edit(self) -> Message | None:
        """The message as edited, when this update reports an edit (of a group's message or a channel's post)."""
        return self.edited_message or self.edited_channel_post


class PhotoSize(BotObject):
    file_id: str
    file_unique_id: str
    width: int
    height: int
    file_size: int | None = None


class UserProfilePhotos(BotObject):
    total_count: int
    # Each photo in up to 4 sizes, smallest first.
    photos: list[list[PhotoSize]]


class File(BotObject):
    file_id: str
    file_unique_id: str
    file_size: int | None = None
    # Download from https://api.telegram.org/file/bot<token>/<file_path>; valid for at least an hour.
    file_path: str | None = None
