"""What the Telegram Bot API emulator knows about people, their photos and their messages, generated from ids.

Everything derives from a number through a seeded generator, so every emulator process (and a test that imports
this module) sees the same user, the same photos and the same file bytes without sharing state:

- ``user(user_id)``: a Telegram ``User`` with a Cyrillic or Latin name, sometimes no last name or username;
  ``photo_count(user_id)`` is 0 for about a quarter of users (Telegram answers them ``total_count: 0``).
- Profile photos come in Telegram's three sizes (160, 320, 640 px). A ``file_id`` names (user, photo, size);
  its ``file_path`` (``photos/file_<user>_<photo>_<size>.jpg``) names the same, and the file is a real JPEG
  (``emulators.jpeg``): an identicon in the user's colour.
- ``message_updates(...)``: ``Update`` objects carrying group messages from generated users, realistic
  Russian, Ukrainian and English work-chat texts with mentions and links, for webhook tests and benchmarks.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from emulators import jpeg

PHOTO_SIZES = (160, 320, 640)
FILE_ID_PREFIX = "AgACAgIAAxUAAW"
UNIQUE_ID_PREFIX = "AQAD"
MAX_PHOTOS = 3
NO_PHOTO_SHARE = 0.25

_CYRILLIC = (
    ("Алексей", "Смирнов"), ("Мария", "Иванова"), ("Дмитрий", "Кузнецов"), ("Анна", "Попова"),
    ("Сергей", "Васильев"), ("Екатерина", "Соколова"), ("Андрей", "Михайлов"), ("Ольга", "Новикова"),
    ("Тарас", "Шевченко"), ("Оксана", "Коваленко"), ("Богдан", "Бондаренко"), ("Ірина", "Ткаченко"),
    ("Юлия", "Фёдорова"), ("Николай", "Морозов"), ("Наталья", "Волкова"), ("Олександр", "Мельник"),
)  # fmt: skip
_LATIN = (
    ("Alex", "Johnson"), ("Maria", "Garcia"), ("John", "Smith"), ("Emma", "Brown"), ("Lukas", "Müller"),
    ("Sofia", "Rossi"), ("Oliver", "Wilson"), ("Chloé", "Dubois"), ("Mateo", "López"), ("Hannah", "Schmidt"),
    ("Ivan", "Petrov"), ("Yuki", "Tanaka"),
)  # fmt: skip
_TRANSLIT = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
        "і": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s",
        "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sch", "ы": "y", "ь": "",
        "э": "e", "ю": "yu", "я": "ya", "ü": "u", "é": "e", "ó": "o",
    }
)  # fmt: skip

_TEXTS = (
    "Коллеги, деплой на прод сегодня в 18:00, просьба не мержить в main после 17:30",
    "Кто-нибудь смотрел, почему упал ночной билд? В логах таймаут на миграции",
    "Созвон по релизу переносим на завтра 11:00",
    "Клиент жалуется на медленную выгрузку отчётов, нужно проверить индексы по дате",
    "ок",
    "спасибо!",
    "Завтра меня не будет, по вопросам оплаты пишите {mention}",
    "Нашёл причину бага с дублями: вебхук повторяет доставку, а мы не проверяем update_id",
    "Предлагаю перейти на pgvector для поиска похожих задач, вот статья: https://github.com/pgvector/pgvector",
    "Хто може переглянути PR з авторизацією? Там зміни в refresh токенах",
    "Зустріч з замовником о 15:00, підготуйте демо нового дашборду",
    "Треба оновити документацію по API до кінця тижня",
    "Deploy to staging is done, please run the smoke tests",
    "Can someone review the onboarding flow? {mention} asked for feedback by Friday",
    "lol",
    "The invoice export fails for contracts signed before 2023, looking into it",
    "Reminder: retro tomorrow at 10am, add your notes to the board",
    "Customer reported that search returns nothing for Cyrillic queries",
    "👍",
    "We should cache avatars instead of fetching them on every message",
    "Budget for Q3 approved: 2 more engineers for the data team",
    "Бэкап базы занимает уже 40 минут, надо переносить на отдельную реплику",
)


@dataclass(frozen=True)
class Photo:
    user_id: int
    index: int  # 0 is the current profile photo, as Telegram orders them (newest first)
    size: int


def _rng(*parts: object) -> random.Random:
    return random.Random(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest())


@lru_cache(maxsize=4096)
def user(user_id: int) -> dict[str, Any]:
    """The ``User`` object Telegram sends for `user_id` (in messages and ``getChat``)."""
    rng = _rng("user", user_id)
    cyrillic = rng.random() < 0.6
    first, last = rng.choice(_CYRILLIC if cyrillic else _LATIN)
    wire: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first}
    if rng.random() < 0.75:
        wire["last_name"] = last
    if rng.random() < 0.7:
        wire["username"] = f"{first.lower().translate(_TRANSLIT)}_{last.lower().translate(_TRANSLIT)}{user_id % 1000}"
    wire["language_code"] = rng.choice(("ru", "uk", "ru")) if cyrillic else rng.choice(("en", "de", "es", "en"))
    return wire


def photo_count(user_id: int) -> int:
    rng = _rng("photos", user_id)
    return 0 if rng.random() < NO_PHOTO_SHARE else rng.randint(1, MAX_PHOTOS)


def bot_user(bot_id: int, first_name: str | None = None, username: str | None = None) -> dict[str, Any]:
    return {
        "id": bot_id,
        "is_bot": True,
        "first_name": first_name or "Longrun Tracker",
        "username": username or f"longrun_tracker_{bot_id}_bot",
        "can_join_groups": True,
        "can_read_all_group_messages": True,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


# ----------------------------------------------------------------------------------------- files


def file_id(photo: Photo) -> str:
    raw = f"{photo.user_id}.{photo.index}.{photo.size}".encode()
    return FILE_ID_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def file_unique_id(photo: Photo) -> str:
    digest = hashlib.sha256(f"{photo.user_id}.{photo.index}.{photo.size}".encode()).digest()
    return UNIQUE_ID_PREFIX + base64.urlsafe_b64encode(digest[:9]).decode()


def file_path(photo: Photo) -> str:
    return f"photos/file_{photo.user_id}_{photo.index}_{photo.size}.jpg"


def photo_from_file_id(value: str) -> Photo | None:
    """The photo a ``file_id`` names, or None when no such photo exists."""
    if not value.startswith(FILE_ID_PREFIX):
        return None
    encoded = value[len(FILE_ID_PREFIX) :]
    try:
        user_id, index, size = map(int, base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).split(b"."))
    except (ValueError, UnicodeDecodeError):
        return None
    return _existing(Photo(user_id, index, size))


def photo_from_path(path: str) -> Photo | None:
    name = path.removeprefix("photos/file_").removesuffix(".jpg")
    if name == path or not path.startswith("photos/"):
        return None
    try:
        user_id, index, size = map(int, name.split("_"))
    except ValueError:
        return None
    return _existing(Photo(user_id, index, size))


def _existing(photo: Photo) -> Photo | None:
    ok = photo.user_id > 0 and 0 <= photo.index < photo_count(photo.user_id) and photo.size in PHOTO_SIZES
    return photo if ok else None


def photo_sizes(user_id: int, index: int) -> list[dict[str, Any]]:
    """One profile photo as Telegram lists it: a ``PhotoSize`` per size, smallest first."""
    sizes = []
    for size in PHOTO_SIZES:
        photo = Photo(user_id, index, size)
        sizes.append(
            {
                "file_id": file_id(photo),
                "file_unique_id": file_unique_id(photo),
                "file_size": len(photo_bytes(photo)),
                "width": size,
                "height": size,
            }
        )
    return sizes


@lru_cache(maxsize=256)
def photo_bytes(photo: Photo) -> bytes:
    """A JPEG identicon: a mirrored 5x5 pattern in a colour of the user's, on a light background."""
    rng = _rng("avatar", photo.user_id, photo.index)
    ink = (rng.randrange(40, 200), rng.randrange(40, 200), rng.randrange(40, 200))
    paper = (240, 240, 236)
    cells = [[rng.random() < 0.5 for _ in range(3)] for _ in range(5)]
    blocks = photo.size // 8
    cell = blocks // 5

    def colour(bx: int, by: int) -> jpeg.RGB:
        column, row = min(bx // cell, 4), min(by // cell, 4)
        return ink if cells[row][min(column, 4 - column)] else paper

    return jpeg.encode(blocks, blocks, colour)


# ----------------------------------------------------------------------------------------- updates


def message_updates(
    count: int,
    *,
    chat_id: int = -1001234567890,
    chat_title: str = "Команда разработки",
    users: int = 20,
    seed: int = 0,
    first_update_id: int = 100_000_001,
    first_message_id: int = 1,
    start_date: int = 1_767_225_600,
    first_user_id: int = 500_000_001,
) -> list[dict[str, Any]]:
    """`count` ``Update``s, each a new text message in one supergroup, from `users` generated people."""
    rng = _rng("updates", seed, chat_id)
    chat = {"id": chat_id, "title": chat_title, "type": "supergroup"}
    people = [user(first_user_id + i) for i in range(users)]
    updates = []
    date = start_date
    for i in range(count):
        author = rng.choice(people)
        others = [p for p in people if p is not author and "username" in p] or people
        text = rng.choice(_TEXTS).replace("{mention}", f"@{rng.choice(others).get('username', 'team')}")
        date += rng.randint(1, 90)
        message: dict[str, Any] = {
            "message_id": first_message_id + i,
            "from": author,
            "chat": chat,
            "date": date,
            "text": text,
        }
        entities = _entities(text)
        if entities:
            message["entities"] = entities
        updates.append({"update_id": first_update_id + i, "message": message})
    return updates


def _entities(text: str) -> list[dict[str, Any]]:
    """Mentions and URLs as Telegram marks them: offsets and lengths in UTF-16 code units."""
    entities = []
    for word in text.split():
        kind = "mention" if word.startswith("@") else "url" if word.startswith("https://") else None
        if kind is None:
            continue
        start = text.index(word)
        entities.append({"type": kind, "offset": _utf16_len(text[:start]), "length": _utf16_len(word.rstrip(".,!?"))})
    return entities


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
