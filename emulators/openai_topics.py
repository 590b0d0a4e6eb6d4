"""What the OpenAI emulator takes a message to be about: one subject per text, the same whichever request asks, so
a model that files messages under topics and a model that classifies them again agree the way a real model
agrees with itself: mostly, with a few deterministic slips.

- `subject(text)`: the subject whose keywords (word stems, in English, Russian and Ukrainian) the text holds most of
  (ties: the first listed), else `GENERAL`. What an extraction names a message's topic.
- `classified(text)`: what a classifier answers for the text: its subject, except for about `MISTAKE_PERCENT` of texts
  (chosen by a hash of the text, so always the same ones) where it takes the runner-up: the subject with the next
  most keywords, else the next one listed. Those are the off-diagonal cells of an experiment's confusion matrix.
"""

import hashlib
import re

GENERAL = "General chat"
MISTAKE_PERCENT = 15

# Stems a word of the text must start with (of three letters or fewer: must be).
SUBJECTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Releases and deploys",
        ("deploy", "release", "staging", "prod", "smoke", "merge", "build", "деплой", "релиз", "прод", "мерж", "билд",
         "реліз", "збірк"),
    ),
    (
        "Bugs and incidents",
        ("bug", "fail", "crash", "error", "broke", "reported", "баг", "упал", "ошибк", "таймаут", "жалует", "помилк",
         "дубл", "причин"),
    ),
    (
        "Performance",
        ("slow", "cache", "latency", "index", "backup", "replica", "медлен", "индекс", "бэкап", "реплик", "кеш",
         "повільн", ),
    ),
    (
        "Meetings",
        ("meeting", "retro", "reminder", "call", "созвон", "встреч", "зустріч", "демо", "нарад"),
    ),
    (
        "Billing and budget",
        ("invoice", "budget", "payment", "billing", "оплат", "счет", "счёт", "бюджет", "рахун"),
    ),
    (
        "Code review",
        ("review", "pr", "feedback", "ревью", "переглян", "відгук"),
    ),
    (
        "Documentation",
        ("doc", "docs", "documentation", "документ", "стат", "wiki"),
    ),
    (
        "Search",
        ("search", "pgvector", "query", "queries", "поиск", "пошук", "похож"),
    ),
    (
        "Team and hiring",
        ("hiring", "engineers", "team", "onboarding", "найм", "команд", "відпуст"),
    ),
)  # fmt: skip

_WORD = re.compile(r"\w+")


def _hits(text: str) -> list[tuple[int, int]]:
    """(keyword words found, catalogue position) of every subject the text has a keyword of, most first."""
    words = _WORD.findall(text.casefold())
    found = []
    for position, (_, stems) in enumerate(SUBJECTS):
        count = sum(1 for w in words if any(w == s if len(s) <= 3 else w.startswith(s) for s in stems))
        if count:
            found.append((-count, position))
    return [(-count, position) for count, position in sorted(found)]


def subject(text: str) -> str:
    hits = _hits(text)
    return SUBJECTS[hits[0][1]][0] if hits else GENERAL


def slips(text: str) -> bool:
    """Whether a classifier answers this text wrong: a stable draw, about MISTAKE_PERCENT in 100."""
    return int(hashlib.sha256(f"classifier slip\x1f{text}".encode()).hexdigest()[:8], 16) % 100 < MISTAKE_PERCENT


def classified(text: str) -> str:
    if not slips(text):
        return subject(text)
    hits = _hits(text)
    if len(hits) > 1:
        return SUBJECTS[hits[1][1]][0]
    position = hits[0][1] + 1 if hits else int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    return SUBJECTS[position % len(SUBJECTS)][0]
