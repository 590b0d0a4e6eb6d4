"""A message's importance (0.0-1.0) from four factors, and its noise class. Pure: no database, no clock.

The factors, each 0.0-1.0, are kept in `noise_factors` with the weights that combined them, so a person can see
why a message was called noise:
- content quality: enough words, not one word repeated, not a bare acknowledgement ("ok", "thanks", an emoji),
  not a copy of a recent message in the chat;
- author activity: people who write regularly carry more signal than a one-off, a flood of messages in the last
  hour less;
- freshness: decays with the message's age (half-life `FRESHNESS_HALF_LIFE_HOURS`), so an imported old
  history scores below today's talk;
- topic association: 1.0 for a message already in a topic, else how many of its words name known topics.
"""

import math
import re
from dataclasses import dataclass, field
from datetime import datetime

from db.models.tracker import NoiseClass

NOISE_BELOW = 0.3
SIGNAL_FROM = 0.7
WEIGHTS = {"content_quality": 0.4, "author_activity": 0.2, "freshness": 0.15, "topic_association": 0.25}
FRESHNESS_HALF_LIFE_HOURS = 72.0
# Words for a message of full length: shorter messages score in proportion.
FULL_LENGTH_WORDS = 12
# An author with this many messages in the last 30 days counts as fully active.
ACTIVE_AUTHOR_MESSAGES = 30
# More than this in the last hour is flooding.
FLOOD_PER_HOUR = 20
# Topic words a message must share with known topics to count as fully associated.
TOPIC_WORDS_FOR_FULL = 2
# Content below this (empty, a bare acknowledgement, a repeat) makes a message noise whatever else is true of it.
LOW_CONTENT = 0.1

_WORD = re.compile(r"[^\W\d_][\w'-]+", re.UNICODE)
_ACKNOWLEDGEMENTS = frozenset(
    "ok okay k thx thanks thank you ty yes no yep nope lol haha +1 да нет ок спасибо дякую так ні ага угу".split()
)


@dataclass(frozen=True)
class ScoringInput:
    text: str
    sent_at: datetime
    now: datetime
    # The author's messages in the chat over the last 30 days and the last hour (this one included).
    author_messages_30d: int = 0
    author_messages_last_hour: int = 0
    # Messages in the same chat over the last day with exactly this text (this one excluded).
    duplicates_recent: int = 0
    has_topic: bool = False
    # Lower-cased words of known topics' names.
    topic_words: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Score:
    importance_score: float
    noise_class: NoiseClass
    noise_factors: dict


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def content_quality(text: str, duplicates_recent: int) -> float:
    found = words(text)
    if not found or duplicates_recent > 0:
        return 0.0
    if all(w in _ACKNOWLEDGEMENTS for w in found):
        return 0.05
    length = min(1.0, len(found) / FULL_LENGTH_WORDS)
    uniqueness = len(set(found)) / len(found)
    return round(length * (0.5 + 0.5 * uniqueness), 4)


def author_activity(messages_30d: int, messages_last_hour: int) -> float:
    regular = math.log1p(max(messages_30d, 0)) / math.log1p(ACTIVE_AUTHOR_MESSAGES)
    activity = min(1.0, 0.3 + 0.7 * regular)
    if messages_last_hour > FLOOD_PER_HOUR:
        activity *= FLOOD_PER_HOUR / messages_last_hour
    return round(activity, 4)


def freshness(sent_at: datetime, now: datetime) -> float:
    age_hours = max(0.0, (now - sent_at).total_seconds() / 3600)
    return round(0.5 ** (age_hours / FRESHNESS_HALF_LIFE_HOURS), 4)


def topic_association(text: str, has_topic: bool, topic_words: frozenset[str]) -> float:
    if has_topic:
        return 1.0
    shared = topic_words.intersection(words(text))
    return round(min(1.0, len(shared) / TOPIC_WORDS_FOR_FULL), 4)


def noise_class(score: float) -> NoiseClass:
    if score < NOISE_BELOW:
        return NoiseClass.noise
    return NoiseClass.signal if score >= SIGNAL_FROM else NoiseClass.weak_signal


def score(inp: ScoringInput) -> Score:
    factors = {
        "content_quality": content_quality(inp.text, inp.duplicates_recent),
        "author_activity": author_activity(inp.author_messages_30d, inp.author_messages_last_hour),
        "freshness": freshness(inp.sent_at, inp.now),
        "topic_association": topic_association(inp.text, inp.has_topic, inp.topic_words),
    }
    value = sum(WEIGHTS[name] * factors[name] for name in WEIGHTS)
    # An active author's "ok" in a busy topic is still "ok".
    if factors["content_quality"] < LOW_CONTENT:
        value = min(value, NOISE_BELOW / 2)
    value = round(min(1.0, max(0.0, value)), 4)
    return Score(value, noise_class(value), {**factors, "weights": WEIGHTS})
