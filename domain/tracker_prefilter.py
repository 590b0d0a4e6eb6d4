"""The analysis run's prefilter: which of a window's messages are worth
the LLM's time.

A message is kept when it is long enough to say something (`MIN_CHARS`, whitespace collapsed) and it either
mentions someone (`@username`, Telegram's 5-32 characters) or holds a task-ish word: one of `TASK_WORDS` at the
start of a word, case-insensitive, so inflections match ("fixed", "deploys", "виправити", "задачі"). Everything
else ("ok", "thanks", chatter without an ask or a problem) is dropped before the run pays for it.
"""

import re

MIN_CHARS = 20

# Stems, matched at a word start. English, Ukrainian (the tracker team's language) and Russian (the other
# applications' teams write it).
TASK_WORDS = (
    # English: asks, obligations, problems, delivery
    "todo",
    "to-do",
    "task",
    "fix",
    "bug",
    "need",
    "must",
    "should",
    "please",
    "deadline",
    "urgent",
    "asap",
    "deploy",
    "releas",
    "review",
    "implement",
    "investigat",
    "broke",
    "fail",
    "error",
    "issue",
    "blocker",
    "assign",
    "schedul",
    "prepar",
    "can you",
    "could you",
    # Ukrainian
    "треба",
    "потрібн",
    "зроби",
    "виправ",
    "задач",
    "завдан",
    "баг",
    "помилк",
    "дедлайн",
    "терміново",
    "перевір",
    "підготу",
    "будь ласка",
    "не працює",
    # Russian
    "нужно",
    "надо",
    "сделай",
    "исправ",
    "ошибк",
    "срочно",
    "проверь",
    "пожалуйста",
    "не работает",
)

_TASKISH = re.compile(r"\b(?:" + "|".join(re.escape(word) for word in TASK_WORDS) + ")", re.IGNORECASE)
# Not after a word character or a dot: "ops@example.com" is an address, not a mention.
_MENTION = re.compile(r"(?<![\w.])@[A-Za-z0-9_]{5,32}\b")


def keep(text: str) -> bool:
    text = " ".join(text.split())
    if len(text) < MIN_CHARS:
        return False
    return bool(_MENTION.search(text) or _TASKISH.search(text))
