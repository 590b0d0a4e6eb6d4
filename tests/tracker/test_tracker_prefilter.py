"""The analysis run's prefilter: long enough, and an ask (a task word) or a mention; English, Ukrainian and Russian
alike."""

import pytest

from domain.tracker_prefilter import keep


@pytest.mark.parametrize(
    "text",
    [
        "@devops_lead the billing export is slow again",
        "Please fix the invoice export before Friday",
        "The deploy failed twice this morning, logs attached",
        "Треба виправити експорт рахунків до п'ятниці",
        "Нужно проверить выгрузку счетов сегодня вечером",
    ],
)
def test_asks_and_mentions_are_kept(text):
    assert keep(text)


@pytest.mark.parametrize(
    "text",
    [
        "ok",
        "fix it",  # an ask, but too short to say what
        "Lunch was great today with the whole team, see you",
        "write to ops@example.com about the lunch menu",  # an address is not a mention
        "   \n  ",
    ],
)
def test_chatter_short_messages_and_addresses_are_dropped(text):
    assert not keep(text)
