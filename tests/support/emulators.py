"""Emulators as tests use them: reset around a test, and the 1C credentials a stand-alone 1C emulator is started
with."""

from devstack.clients import Emulator

# Cyrillic on purpose: 1C users usually have Russian names, and Basic auth must carry them as UTF-8.
ONEC_USER, ONEC_PASSWORD = "Бухгалтер", "пароль:с двоеточием"
ONEC_CREDENTIALS = {"LONGRUN_ONEC_USER": ONEC_USER, "LONGRUN_ONEC_PASSWORD": ONEC_PASSWORD}


async def clean_emulator(base_url: str, kind: type[Emulator] = Emulator):
    """An emulator with no faults and zeroed counts for the test, and left that way after it."""
    emulator = kind(base_url)
    await emulator.reset()
    yield emulator
    await emulator.reset()
