"""Which Telegram the settings pick, and which channel a saved reference names."""

import pytest

from clients.telegram import channel_ref
from settings import Settings


def test_the_stand_in_is_the_default_until_a_session_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("LONGRUN_TELEGRAM_SESSION", "LONGRUN_TELEGRAM_EMULATOR_URL"):
        monkeypatch.delenv(variable, raising=False)

    assert Settings(_env_file=None).telegram_emulator_url == "http://127.0.0.1:8103"
    assert Settings(telegram_session="1BVts...", _env_file=None).telegram_emulator_url == ""
    monkeypatch.setenv("LONGRUN_TELEGRAM_EMULATOR_URL", "http://127.0.0.1:9999")
    assert Settings(telegram_session="1BVts...", _env_file=None).telegram_emulator_url == "http://127.0.0.1:9999"
    monkeypatch.setenv("LONGRUN_TELEGRAM_EMULATOR_URL", "")
    assert Settings(_env_file=None).telegram_emulator_url == "", "set empty: real Telegram"


@pytest.mark.parametrize(
    ("reference", "resolved"),
    [
        ("@durov", "durov"),
        ("durov", "durov"),
        ("https://t.me/durov", "durov"),
        ("t.me/s/durov/", "durov"),
        ("-1001234567890", -1001234567890),
        (-1001234567890, -1001234567890),
    ],
)
def test_channel_references_resolve_to_what_pyrogram_takes(reference: str | int, resolved: str | int) -> None:
    assert channel_ref(reference) == resolved
