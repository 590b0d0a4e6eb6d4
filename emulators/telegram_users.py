"""People and bots the Telegram stand-in knows by username, as the raw `User` objects Telegram sends.

A session can resolve a person's or a bot's username as well as a channel's, and the tracker must refuse to read
those chats: the stand-in has to answer them the way Telegram does. ``@person_<name>`` is a person and
``@<name>_bot`` (Telegram's rule: a bot's username ends in "bot") a bot; both are made up from the name alone.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

from pyrogram import raw
from pyrogram.raw.core import TLObject

SELF_ID = 777_000_001  # the stand-in session's own user (clients/telegram_http.STAND_IN_USER_ID)
CONVERSATION = 3  # messages in a 1:1 chat


@dataclass(frozen=True)
class UserSpec:
    username: str
    bot: bool

    @classmethod
    def parse(cls, username: str) -> UserSpec | None:
        name = username.strip().lstrip("@").lower()
        if name.startswith("person_") and len(name) > len("person_"):
            return cls(username=name, bot=False)
        if name.endswith("_bot") and len(name) > len("_bot"):
            return cls(username=name, bot=True)
        return None

    @property
    def user_id(self) -> int:
        return 5_000_000_000 + zlib.crc32(self.username.encode()) % 1_000_000_000

    @property
    def access_hash(self) -> int:
        return int.from_bytes(hashlib.sha256(f"user:{self.username}".encode()).digest()[:7], "big")

    def conversation(self) -> raw.types.messages.Messages:
        """The 1:1 chat with this user: a few messages each way, newest first, as `messages.getHistory` answers."""
        me = raw.types.PeerUser(user_id=SELF_ID)
        them = raw.types.PeerUser(user_id=self.user_id)
        messages = [
            raw.types.Message(
                id=n,
                peer_id=them,
                from_id=them if n % 2 else me,
                out=None if n % 2 else True,
                date=1_700_000_000 + 60 * n,
                message=f"private message {n} with {self.username}",
            )
            for n in range(CONVERSATION, 0, -1)
        ]
        return raw.types.messages.Messages(messages=messages, chats=[], users=[self.user()])

    def user(self) -> raw.types.User:
        return raw.types.User(
            id=self.user_id,
            access_hash=self.access_hash,
            first_name=self.username.removeprefix("person_").removesuffix("_bot").title(),
            username=self.username,
            bot=self.bot or None,
            bot_info_version=1 if self.bot else None,
        )


class Users:
    """The users resolved so far, found again by id (as Telegram checks an InputUser's access hash)."""

    def __init__(self) -> None:
        self._by_id: dict[int, UserSpec] = {}

    def resolve(self, username: str) -> UserSpec | None:
        spec = UserSpec.parse(username)
        if spec is not None:
            self._by_id[spec.user_id] = spec
        return spec

    def by_input(self, user: TLObject) -> UserSpec | None:
        if not isinstance(user, raw.types.InputUser | raw.types.InputPeerUser):
            return None
        spec = self._by_id.get(user.user_id)
        return spec if spec is not None and spec.access_hash == user.access_hash else None
