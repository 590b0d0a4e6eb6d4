"""Scoring is a pure function of a message and its context: noise, weak signal and signal at their thresholds."""

from datetime import UTC, datetime, timedelta

import pytest

from db.models.tracker import NoiseClass
from domain.tracker_scoring import (
    NOISE_BELOW,
    SIGNAL_FROM,
    WEIGHTS,
    ScoringInput,
    author_activity,
    content_quality,
    freshness,
    noise_class,
    score,
    topic_association,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SUBSTANTIVE = "The deploy of the billing service failed because the migration locked the invoices table for minutes"


def message(text: str = SUBSTANTIVE, **kw) -> ScoringInput:
    return ScoringInput(text=text, sent_at=kw.pop("sent_at", NOW), now=NOW, **kw)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, NoiseClass.noise), (0.2999, NoiseClass.noise), (NOISE_BELOW, NoiseClass.weak_signal)]
    + [(0.6999, NoiseClass.weak_signal), (SIGNAL_FROM, NoiseClass.signal), (1.0, NoiseClass.signal)],
)
def test_classes_at_their_thresholds(value, expected):
    assert noise_class(value) == expected


def test_every_factor_and_the_score_stay_within_zero_and_one():
    extremes = [
        message("", author_messages_30d=0),
        message(SUBSTANTIVE * 20, author_messages_30d=10_000, has_topic=True),
        message("x", sent_at=NOW - timedelta(days=3650), author_messages_last_hour=10_000),
        message(SUBSTANTIVE, sent_at=NOW + timedelta(hours=1)),  # a clock ahead of ours
    ]
    for inp in extremes:
        result = score(inp)
        assert 0.0 <= result.importance_score <= 1.0
        assert all(0.0 <= result.noise_factors[name] <= 1.0 for name in WEIGHTS)


def test_factors_are_kept_with_their_weights():
    result = score(message())
    assert set(result.noise_factors) == {*WEIGHTS, "weights"}
    combined = sum(WEIGHTS[n] * result.noise_factors[n] for n in WEIGHTS)
    assert result.importance_score == pytest.approx(combined, abs=1e-3)


def test_acknowledgements_empty_and_repeated_messages_are_noise():
    for text in ("ok", "спасибо", "👍", "", "   "):
        assert score(message(text, author_messages_30d=50, has_topic=True)).noise_class == NoiseClass.noise, text
    assert score(message(SUBSTANTIVE, duplicates_recent=1, has_topic=True)).noise_class == NoiseClass.noise


def test_a_substantive_message_in_a_known_topic_by_a_regular_author_is_signal():
    result = score(message(author_messages_30d=40, has_topic=True))
    assert result.noise_class == NoiseClass.signal


def test_a_substantive_message_with_no_topic_yet_is_a_weak_signal():
    assert score(message(author_messages_30d=1)).noise_class == NoiseClass.weak_signal


def test_content_quality_rewards_length_and_variety():
    assert content_quality("deploy failed", 0) < content_quality(SUBSTANTIVE, 0)
    assert content_quality("spam " * 12, 0) < content_quality(SUBSTANTIVE, 0)


def test_author_activity_grows_with_regular_writing_and_falls_with_flooding():
    assert author_activity(1, 1) < author_activity(30, 1) == 1.0
    assert author_activity(30, 200) < author_activity(30, 5)


def test_freshness_halves_every_half_life():
    assert freshness(NOW, NOW) == 1.0
    assert freshness(NOW - timedelta(hours=72), NOW) == pytest.approx(0.5)
    assert freshness(NOW - timedelta(hours=144), NOW) == pytest.approx(0.25)


def test_topic_association_counts_words_of_known_topics():
    topics = frozenset({"billing", "deploy", "invoices"})
    assert topic_association("nothing related here", False, topics) == 0.0
    assert topic_association("billing is down", False, topics) == 0.5
    assert topic_association(SUBSTANTIVE, False, topics) == 1.0
    assert topic_association("anything", True, frozenset()) == 1.0
