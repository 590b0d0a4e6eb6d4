"""The tracker reads groups, supergroups and channels only: the session's own Saved Messages, a person's chat and a
bot's are refused as what they are, before a message is read, against the stand-in's people and bots."""

import pytest

from clients.telegram import NotAGroup
from clients.telegram_history import ChatHistory
from devstack.clients import Emulator
from settings import Settings


@pytest.mark.parametrize(
    ("chat", "chat_type"), [("self", "self"), ("me", "self"), ("@person_alice", "private"), ("helper_bot", "bot")]
)
async def test_a_chat_that_is_not_a_group_is_refused_by_its_type(
    settings: Settings, stand_in: Emulator, chat: str, chat_type: str
) -> None:
    async with ChatHistory.from_settings(settings, chat) as history:
        with pytest.raises(NotAGroup) as refused:
            await history.page(0)
    assert refused.value.permanent and refused.value.chat_type == chat_type
    assert f"chat type: {chat_type}" in str(refused.value)
    assert (await stand_in.stats())["requests"].get("/rpc/messages.GetHistory", 0) == 0


async def test_a_channel_is_read(settings: Settings, stand_in: Emulator) -> None:
    async with ChatHistory.from_settings(settings, "gen_20") as history:
        page = await history.page(0)
    assert len(page.messages) == 20
